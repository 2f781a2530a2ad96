import { runConformance } from '@lameduck/conformance';
import { express5Factory } from './factory.js';

runConformance(express5Factory);
