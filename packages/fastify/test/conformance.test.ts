import { runConformance } from '@lameduck/conformance';
import { fastifyFactory } from './factory.js';

runConformance(fastifyFactory);
