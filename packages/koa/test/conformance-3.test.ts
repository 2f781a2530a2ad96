import { runConformance } from '@lameduck/conformance';
import { koa3Factory } from './factory.js';

runConformance(koa3Factory);
