// The server every restart method runs: GET / answers `hello` with `X-Instance: <pid>`. BENCH_MODE says
// how it is run:
// - naive: listens on PORT; SIGTERM or SIGINT → `server.close()`, exit when it calls back (what most
//   servers do, and what pm2's docs show for a graceful reload);
// - keeper: under `lameduck run`, takes its socket with `lameduck.listen()`; the keeper's SIGTERM drains;
// - self-upgrade: `lameduck.listen()` on PORT, `bindRestart()` on SIGHUP.
// Every process appends its events (listening, draining, exiting) as JSON lines to the file named by
// BENCH_EVENTS: under a keeper, pm2 or a self-upgrade, the benchmark is not the parent of every process.
import fs from 'node:fs';
import http from 'node:http';
import { bindRestart, createLameduck } from '@lameduck/core';
import { wallNow } from '../clock.js';

const mode = process.env.BENCH_MODE ?? 'naive';
const port = Number(process.env.PORT);
const eventsFile = process.env.BENCH_EVENTS ?? '';

function record(event: string): void {
  // Synchronous, so that the exit is recorded too; one short append is atomic (O_APPEND).
  fs.appendFileSync(eventsFile, `${JSON.stringify({ event, pid: process.pid, at: wallNow() })}\n`);
}
process.on('exit', () => record('exiting'));

const instance = String(process.pid);
const app: http.RequestListener = (_req, res) => {
  res.setHeader('X-Instance', instance);
  res.end('hello\n');
};

if (mode === 'naive') {
  const server = http.createServer(app);
  const stop = () => {
    record('draining');
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  server.listen(port, '127.0.0.1', () => record('listening'));
} else {
  const lameduck = createLameduck({ logger: false });
  lameduck.on('shutdown', () => record('draining'));
  const server = http.createServer(lameduck.handle(app));
  if (mode === 'self-upgrade') bindRestart(lameduck, { logger: false });
  await lameduck.listen(server, { port, host: '127.0.0.1' });
  record('listening');
}
