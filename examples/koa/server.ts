// Koa on two ports under one lameduck lifecycle. Run it, then `curl localhost:3000/slow` and, while
// that waits, `kill -TERM <pid>` (or Ctrl+C):
//   node --conditions=@lameduck/source --import tsx examples/koa/server.ts
// Environment: PORT (3000), ADMIN_PORT (9090), HOST (127.0.0.1), SLOW_MS (10000), DRAIN_DELAY (5000),
// SHUTDOWN_TIMEOUT (20000), FLUSH_FILE (where the cache is flushed; a file in the temp directory).
// SIGUSR2 answers the slow requests that are waiting, at once.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createLameduck } from '@lameduck/core';
import { buildApps } from './app.js';

const host = process.env.HOST ?? '127.0.0.1';
const flushFile = process.env.FLUSH_FILE ?? path.join(os.tmpdir(), 'lameduck-koa-cache.json');

// Created here rather than by graceful(), so that both apps share it.
const lameduck = createLameduck({
  // Behind a load balancer, keep serving (with Connection: close) until it has seen readiness fail.
  drainDelay: Number(process.env.DRAIN_DELAY ?? 5_000),
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
});
const { app, admin, hits, finishSlowRequests } = buildApps(lameduck, Number(process.env.SLOW_MS ?? 10_000));

// Runs after both servers drained: no request can add a hit any more, so the flush is complete. The
// file stands in for a database; the hook's signal aborts the write if it outlives its timeout.
lameduck.onShutdown(
  'flush-cache',
  async ({ signal }) => {
    await writeFile(flushFile, `${JSON.stringify(Object.fromEntries(hits))}\n`, { signal });
    process.stdout.write(`cache flushed to ${flushFile}\n`);
  },
  { timeout: 3_000 },
);
process.on('SIGUSR2', finishSlowRequests);

// Created and attached before listen(), so that every connection is seen from its first byte.
const servers = { app: http.createServer(app.callback()), admin: http.createServer(admin.callback()) };
for (const server of Object.values(servers)) lameduck.attach(server);
await Promise.all([
  listen(servers.app, Number(process.env.PORT ?? 3000)),
  listen(servers.admin, Number(process.env.ADMIN_PORT ?? 9090)),
]);
for (const [name, server] of Object.entries(servers)) {
  const { address, port } = server.address() as AddressInfo;
  process.stdout.write(`${name} listening on http://${address}:${port} (pid ${process.pid})\n`);
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
}
