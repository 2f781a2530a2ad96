export { Child, type ChildOptions, type Exit, type JsonLine, sourceArgs, spawnSource } from './child.js';
export { fetchOnce, RawConnection, type RawResponse } from './connection.js';
export { accepting, closeServer, freePorts, listen, urlOf } from './listen.js';
export { type AgentResult, type RequestInit, request } from './request.js';
export { requireSelfSignedCert, selfSignedCert, type TlsMaterial } from './tls.js';
export { type Cleanup, cleanupAfterEach, countdown, deferred, until } from './waiting.js';
