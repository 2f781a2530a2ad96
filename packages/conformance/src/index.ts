export { type Child, spawnApp } from './child.js';
export { fetchOnce, RawConnection, type RawResponse } from './client.js';
export { Controls, streamChunks } from './handlers.js';
export { closeServer, listen, urlOf } from './serve.js';
export { runConformance } from './suite.js';
export { selfSignedCert } from './tls.js';
export type { ConformanceFactory, ConformanceHandlers, StartedServer, StartOptions } from './types.js';
