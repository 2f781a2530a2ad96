// Idle keep-alive connections: `server.ts <bare|lameduck> <connections>`. Listens, tells its parent the
// port, waits until that many connections have each been answered once and are idle, then prints the
// heap growth per connection (after a full GC, --expose-gc). On SIGTERM it shuts down, with
// `lameduck.shutdown()` or with plain `server.close()` + `closeIdleConnections()`, prints how long that
// took until every connection was closed, and exits.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLameduck } from '@lameduck/core';
import { wallNow } from '../clock.js';
import { emit } from '../emit.js';

const [mode = 'bare', countArg = '1000'] = process.argv.slice(2);
const count = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

let answered = 0;
let lastAnswerAt = 0;
let baseline = 0;
const handler: http.RequestListener = (_req, res) => {
  res.end('ok');
  lastAnswerAt = wallNow();
  if (++answered === count) setTimeout(report, 200);
};
const lameduck = mode === 'lameduck' ? createLameduck({ signals: false, logger: false }) : undefined;
const server = http.createServer(lameduck ? lameduck.handle(handler) : handler);
server.keepAliveTimeout = 600_000;
lameduck?.attach(server);

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function report(): void {
  const perConnection = (heap() - baseline) / count;
  emit('heap', { mode, count, perConnection: Math.round(perConnection) });
}

// Idle for longer than lameduck's idleGrace (250 ms), like a pool between bursts: the drain closes such
// sockets at once. Both modes wait the same.
const idleFor = 300;

async function shutdown(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastAnswerAt + idleFor - wallNow())));
  const start = wallNow();
  if (lameduck) await lameduck.shutdown();
  else {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    await closed;
  }
  emit('closed', { start, ms: wallNow() - start });
  process.exit(0);
}

process.once('SIGTERM', () => void shutdown());
server.listen(0, '127.0.0.1', () => {
  baseline = heap();
  emit('listening', { port: (server.address() as AddressInfo).port });
});
