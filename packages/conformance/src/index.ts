export { type ConformanceChild, spawnApp } from './child.js';
export { Controls, streamChunks } from './handlers.js';
export { runConformance } from './suite.js';
export type { ConformanceFactory, ConformanceHandlers, StartedServer, StartOptions } from './types.js';
