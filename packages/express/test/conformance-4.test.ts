import { runConformance } from '@lameduck/conformance';
import { express4Factory } from './factory.js';

runConformance(express4Factory);
