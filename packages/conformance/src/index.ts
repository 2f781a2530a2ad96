export { type ConformanceChild, spawnApp, spawnAppWithSlowRequest } from './child.js';
export { Controls, streamChunks } from './handlers.js';
export { adapterOptions, healthRoutes, serveListener } from './serve.js';
export { runConformance } from './suite.js';
export type { ConformanceFactory, ConformanceHandlers, StartedServer, StartOptions } from './types.js';
