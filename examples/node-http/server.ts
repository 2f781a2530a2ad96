// A plain node:http server drained by lameduck. Run it, then press Ctrl+C or `kill -TERM <pid>`:
//   node --conditions=@lameduck/source --import tsx examples/node-http/server.ts
// Configured from the environment (the Kubernetes manifest in ../kubernetes sets these): PORT, HOST,
// DRAIN_DELAY, DRAIN_QUIET, SHUTDOWN_TIMEOUT and HOOK_TIMEOUT (ms). It is also the upstream of ../nginx and ../haproxy.
import { createLameduck } from '@lameduck/core';
import { buildServer } from './app.js';

// DRAIN_QUIET (ms) makes the drain delay adaptive: DRAIN_DELAY is then its longest.
const drainMs = Number(process.env.DRAIN_DELAY ?? 0);
const quietMs = process.env.DRAIN_QUIET === undefined ? undefined : Number(process.env.DRAIN_QUIET);
const lameduck = createLameduck({
  drainDelay: quietMs === undefined ? drainMs : { max: drainMs, quiet: quietMs },
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
  hookTimeout: Number(process.env.HOOK_TIMEOUT ?? 5_000),
});
lameduck.onShutdown('flush-metrics', async () => {
  // Stand-in for real cleanup: flush a cache, close a database pool.
  await new Promise((resolve) => setTimeout(resolve, 20));
});

const server = buildServer(lameduck);
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') {
    process.stdout.write(`listening on http://${address.address}:${address.port} (pid ${process.pid})\n`);
  }
});
