import { it } from 'vitest';
import { drainsBothPorts } from '../framework-example.js';

it('drains both ports on SIGTERM: readiness 503, the slow request finishes, the cache is flushed, exit 0', () =>
  drainsBothPorts(new URL('./server.ts', import.meta.url), /hook done hook=flush-cache/));
