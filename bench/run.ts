// Benchmarks: npm run bench. Loopback only, bounded in count; prints a table. Numbers vary with the
// machine; the project's reference machine has 2 cores.
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { createLameduck } from '@lameduck/core';

const runs = 3;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function get(agent: http.Agent, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 || res.statusCode === 503 ? undefined : 'status'));
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Requests per second over 50 keep-alive sockets, 20 000 requests. */
async function throughput(withLameduck: boolean): Promise<number> {
  const lameduck = withLameduck ? createLameduck({ signals: false, logger: false }) : undefined;
  const handler: http.RequestListener = (_req, res) => res.end('ok');
  const server = http.createServer(lameduck ? lameduck.handle(handler) : handler);
  lameduck?.attach(server);
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  let left = 20_000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (left-- > 0) await get(agent, port);
    }),
  );
  const rps = 20_000 / ((performance.now() - start) / 1000);
  agent.destroy();
  lameduck?.dispose();
  server.closeAllConnections();
  server.close();
  return rps;
}

/** Milliseconds from shutdown until done, with 200 idle keep-alive sockets. */
async function idleSockets(mode: 'lameduck' | 'close'): Promise<number> {
  const lameduck = createLameduck({ signals: false, logger: false });
  const server = http.createServer((_req, res) => res.end('ok'));
  if (mode === 'lameduck') lameduck.attach(server);
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
  await Promise.all(Array.from({ length: 200 }, () => get(agent, port)));
  // Idle for longer than idleGrace, like a pool between bursts.
  await new Promise((r) => setTimeout(r, 300));
  const start = performance.now();
  if (mode === 'lameduck') await lameduck.shutdown();
  else await new Promise<void>((r) => server.close(() => r()));
  const ms = performance.now() - start;
  agent.destroy();
  lameduck.dispose();
  return ms;
}

/** Milliseconds from shutdown until done when a streaming response (headers sent) is in progress. */
async function afterStream(mode: 'lameduck' | 'close'): Promise<number> {
  const lameduck = createLameduck({ signals: false, logger: false });
  let finish!: () => void;
  const server = http.createServer((_req, res) => {
    res.writeHead(200);
    res.write('start');
    finish = () => res.end('end');
  });
  if (mode === 'lameduck') lameduck.attach(server);
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  const done = new Promise<void>((resolve) => {
    http.get({ host: '127.0.0.1', port, agent }, (res) => {
      res.once('data', () => resolve());
      res.resume();
    });
  });
  await done;
  const start = performance.now();
  const closing =
    mode === 'lameduck' ? lameduck.shutdown() : new Promise<void>((r) => server.close(() => r()));
  setImmediate(() => finish());
  await closing;
  const ms = performance.now() - start;
  agent.destroy();
  lameduck.dispose();
  return ms;
}

/** Failed requests (resets, hang-ups) among 50 keep-alive clients when the shutdown starts under load. */
async function underLoad(mode: 'lameduck' | 'close'): Promise<{ failed: number; total: number }> {
  const lameduck = createLameduck({ signals: false, logger: false });
  const handler: http.RequestListener = (_req, res) => res.end('x'.repeat(1024));
  const server = http.createServer(mode === 'lameduck' ? lameduck.handle(handler) : handler);
  if (mode === 'lameduck') lameduck.attach(server);
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  let total = 0;
  let failed = 0;
  let stopAt = Number.POSITIVE_INFINITY;
  let closing: Promise<unknown> | undefined;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let i = 0; i < 1_000 && performance.now() < stopAt; i++) {
        const error = await get(agent, port);
        total++;
        if (total === 2_000) {
          stopAt = performance.now() + 1_000;
          if (mode === 'lameduck') closing = lameduck.shutdown();
          else {
            closing = new Promise<void>((r) => server.close(() => r()));
            // What stoppable-style packages do after close(): end idle sockets now.
            server.closeIdleConnections();
          }
        }
        if (error === 'ECONNREFUSED') return;
        if (error !== undefined) failed++;
      }
    }),
  );
  agent.destroy();
  server.closeAllConnections();
  await closing;
  lameduck.dispose();
  return { failed, total };
}

const rows: [string, string, string][] = [];
const fmt = (n: number, unit: string) => `${n.toFixed(n < 10 ? 1 : 0)} ${unit}`;

const plainRps: number[] = [];
const ldRps: number[] = [];
for (let i = 0; i < runs; i++) {
  plainRps.push(await throughput(false));
  ldRps.push(await throughput(true));
}
rows.push(['throughput, 50 keep-alive sockets', fmt(median(plainRps), 'req/s'), fmt(median(ldRps), 'req/s')]);

const idleClose: number[] = [];
const idleLd: number[] = [];
for (let i = 0; i < runs; i++) {
  idleClose.push(await idleSockets('close'));
  idleLd.push(await idleSockets('lameduck'));
}
rows.push(['shutdown with 200 idle sockets', fmt(median(idleClose), 'ms'), fmt(median(idleLd), 'ms')]);

const streamClose: number[] = [];
const streamLd: number[] = [];
for (let i = 0; i < runs; i++) {
  streamClose.push(await afterStream('close'));
  streamLd.push(await afterStream('lameduck'));
}
rows.push([
  'shutdown during a streaming response',
  fmt(median(streamClose), 'ms'),
  fmt(median(streamLd), 'ms'),
]);

const loadClose: number[] = [];
const loadLd: number[] = [];
for (let i = 0; i < runs; i++) {
  loadClose.push((await underLoad('close')).failed);
  loadLd.push((await underLoad('lameduck')).failed);
}
rows.push(['failed requests, 50 clients under load', String(median(loadClose)), String(median(loadLd))]);

console.log(`node ${process.version}, median of ${runs} runs\n`);
console.log('| scenario | server.close() | lameduck |');
console.log('| --- | --- | --- |');
for (const [name, a, b] of rows) console.log(`| ${name} | ${a} | ${b} |`);
