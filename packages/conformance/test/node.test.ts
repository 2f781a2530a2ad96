import { runConformance } from '../src/index.js';
import { nodeFactory } from './factory.js';

runConformance(nodeFactory);
