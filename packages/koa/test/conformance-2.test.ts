import { runConformance } from '@lameduck/conformance';
import { koa2Factory } from './factory.js';

runConformance(koa2Factory);
