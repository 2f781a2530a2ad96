// Heap per idle keep-alive connection: `server.ts <bare|lameduck> <connections>`. Listens, tells its
// parent the port, waits until that many connections have each been answered once and are idle, then
// prints the heap growth per connection (after a full GC, --expose-gc) and exits.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLameduck } from '@lameduck/core';

const [mode = 'bare', countArg = '1000'] = process.argv.slice(2);
const count = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

let answered = 0;
let baseline = 0;
const handler: http.RequestListener = (_req, res) => {
  res.end('ok');
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
  process.stdout.write(`${JSON.stringify({ mode, count, perConnection: Math.round(perConnection) })}\n`);
  process.exit(0);
}

server.listen(0, '127.0.0.1', () => {
  baseline = heap();
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
