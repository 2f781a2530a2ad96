/**
 * The leak check, in a process of its own (`node --expose-gc`): `--cycles N` in-process attach → load →
 * shutdown cycles over every adapter's conformance factory (plain node, Express 4 and 5, Koa 2 and 3,
 * Fastify; every fifth one over HTTPS), eight at a time, then one JSON line on stdout with open file descriptors,
 * active resources and heap, at the baseline (after a warm-up) and at the end.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type ConformanceFactory, Controls } from '@lameduck/conformance';
import { RawConnection, selfSignedCert } from '@lameduck/testkit';
import { nodeFactory } from '../../conformance/test/factory.js';
import { express4Factory, express5Factory } from '../../express/test/factory.js';
import { fastifyFactory } from '../../fastify/test/factory.js';
import { koa2Factory, koa3Factory } from '../../koa/test/factory.js';

export interface Snapshot {
  fds: number;
  /** `process.getActiveResourcesInfo()`, counted by type. */
  resources: Record<string, number>;
  /** Heap used after full collections. */
  heap: number;
}

export interface LeakResult {
  cycles: number;
  warmup: number;
  baseline: Snapshot;
  final: Snapshot;
  /** Heap after every tenth of the measured cycles, to show a trend. */
  heapSeries: number[];
  ms: number;
}

const factories: ConformanceFactory[] = [
  nodeFactory,
  express4Factory,
  express5Factory,
  koa2Factory,
  koa3Factory,
  fastifyFactory,
];
const tls = selfSignedCert();

async function cycle(i: number): Promise<void> {
  const factory = factories[i % factories.length]!;
  const controls = new Controls();
  const started = await factory.start({
    mode: 'embedded',
    // A short idle grace so that the idle socket's reap timer runs within the cycle.
    options: { signals: false, exit: false, logger: false, timeout: 10_000, idleGrace: 5 },
    handlers: controls.handlers,
    ...(i % 5 === 4 && tls ? { tls } : {}),
  });
  const conns: RawConnection[] = [];
  const open = async () => {
    const conn = await RawConnection.open(started.url);
    conns.push(conn);
    return conn;
  };
  try {
    // A keep-alive socket left idle after an answer, a request in flight, a stream under way, and a
    // connection that never sends anything.
    const idle = await open();
    idle.get('/fast');
    await idle.response();
    const slow = await open();
    const slowStarted = controls.slowStarted();
    slow.get('/slow');
    await slowStarted;
    const stream = await open();
    const streamStarted = controls.streamStarted();
    stream.get('/stream');
    await streamStarted;
    await open();
    const shutdown = started.lameduck.shutdown();
    controls.release();
    const [slowAnswer, streamAnswer] = await Promise.all([slow.response(), stream.response()]);
    const report = await shutdown;
    if (slowAnswer.body !== 'slow' || streamAnswer.body.length !== 64 * 1_024 || report.exitCode !== 0) {
      throw new Error(`cycle ${i} (${factory.name}) drained badly: ${JSON.stringify(report)}`);
    }
  } finally {
    for (const conn of conns) conn.destroy();
    await started.close();
  }
}

async function snapshot(): Promise<Snapshot> {
  // Let sockets finish closing and timers of the last cycle run out before counting.
  await sleep(100);
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  return { fds: fs.readdirSync('/proc/self/fd').length, resources, heap: process.memoryUsage().heapUsed };
}

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '1000' } } });
const cycles = Number(values.cycles);
/** Cycles run this many at a time (each with its own lifecycle and server): most of a cycle is waiting. */
const parallel = 8;
// JIT, lazily loaded framework modules and TLS contexts settle in the first cycles: every factory
// runs several times, over both protocols, before the baseline.
const warmup = Math.min(60, Math.floor(cycles / 10));
const started = performance.now();

async function run(from: number, to: number, after?: (done: number) => void): Promise<void> {
  for (let i = from; i < to; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, to - i) }, (_, k) => cycle(i + k));
    await Promise.all(batch);
    after?.(i + batch.length - from);
  }
}

await run(0, warmup);
const baseline = await snapshot();
const heapSeries: number[] = [];
const tenth = Math.max(parallel, Math.floor((cycles - warmup) / 10));
let next = tenth;
await run(warmup, cycles, (done) => {
  if (done < next) return;
  next += tenth;
  (globalThis as { gc?: () => void }).gc?.();
  heapSeries.push(process.memoryUsage().heapUsed);
});
const final = await snapshot();
const result: LeakResult = {
  cycles,
  warmup,
  baseline,
  final,
  heapSeries,
  ms: Math.round(performance.now() - started),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
