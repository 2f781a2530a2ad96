// Fastify on two ports under one lameduck lifecycle. Run it, then `curl 127.0.0.1:3000/slow` and, while
// that waits, `kill -TERM <pid>` (or Ctrl+C):
//   node --conditions=@lameduck/source --import tsx examples/fastify/server.ts
// Environment: PORT (3000), ADMIN_PORT (9090), HOST (127.0.0.1), SLOW_MS (10000), DRAIN_DELAY (5000),
// SHUTDOWN_TIMEOUT (20000), FLUSH_FILE (where the cache is flushed; a file in the temp directory).
// SIGUSR2 answers the slow requests that are waiting, at once.
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLameduck } from '@lameduck/core';
import { buildApps } from './app.js';

const host = process.env.HOST ?? '127.0.0.1';
const flushFile = process.env.FLUSH_FILE ?? path.join(os.tmpdir(), 'lameduck-fastify-cache.json');

// Created here and passed to both registrations, so that both instances share it.
const lameduck = createLameduck({
  // Behind a load balancer, keep serving (with Connection: close) until it has seen readiness fail.
  drainDelay: Number(process.env.DRAIN_DELAY ?? 5_000),
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
});
const { app, admin, hits, finishSlowRequests } = await buildApps(
  lameduck,
  Number(process.env.SLOW_MS ?? 10_000),
);

// Fastify's own place for cleanup. With the plugin, a signal drains first and then calls
// fastify.close(), so this runs after the last request: no request can add a hit any more. The file
// stands in for a database.
app.addHook('onClose', async () => {
  await writeFile(flushFile, `${JSON.stringify(Object.fromEntries(hits))}\n`);
  process.stdout.write(`cache flushed to ${flushFile}\n`);
});
process.on('SIGUSR2', finishSlowRequests);

// The plugin attached each instance's server when it was registered, before listening.
const urls = {
  app: await app.listen({ port: Number(process.env.PORT ?? 3000), host }),
  admin: await admin.listen({ port: Number(process.env.ADMIN_PORT ?? 9090), host }),
};
for (const [name, url] of Object.entries(urls)) {
  process.stdout.write(`${name} listening on ${url} (pid ${process.pid})\n`);
}
