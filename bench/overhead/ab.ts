// Per-request cost, bare vs lameduck, pairs alternated, for each stack. Each run starts a fresh server
// process (server.ts) and drives it with autocannon in a process of its own, which outruns the server;
// the server reports its own CPU time, so CPU µs per request is measured beside req/s and latency.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { root, spawnTs } from '../child.js';
import type { BenchContext } from '../context.js';
import { alternate, type Summary, summarize } from '../stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const stacks = ['node', 'express', 'fastify', 'koa'] as const;
export type Stack = (typeof stacks)[number];
const modes = ['bare', 'lameduck'] as const;

export interface OverheadRun {
  rps: number;
  /** Server CPU microseconds per request (warm-up included in both the time and the count). */
  cpuPerReq: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface OverheadResult {
  stack: Stack;
  connections: number;
  seconds: number;
  warmup: number;
  bare: OverheadRun[];
  lameduck: OverheadRun[];
  /** Per pair: lameduck's req/s divided by bare's. */
  rpsRatio: Summary;
  /** Per pair: lameduck's server CPU per request divided by bare's. */
  cpuRatio: Summary;
}

export async function measureOverhead(
  stack: Stack,
  mode: (typeof modes)[number],
  options: { seconds: number; warmup: number; connections: number },
): Promise<OverheadRun> {
  const server = spawnTs(path.join(here, 'server.ts'), [stack, mode]);
  try {
    const { port } = (await server.message((m) => m.port !== undefined)) as unknown as { port: number };
    const c = String(options.connections);
    const warmup = options.warmup > 0 ? ['--warmup', '[', '-c', c, '-d', String(options.warmup), ']'] : [];
    const ac = spawn(
      process.execPath,
      [
        path.join(root, 'node_modules/autocannon/autocannon.js'),
        ...['-c', c, '-d', String(options.seconds), '-j', ...warmup],
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    ac.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    await once(ac, 'exit');
    server.process.kill('SIGTERM');
    const { cpuMicros } = (await server.message((m) => m.cpuMicros !== undefined)) as unknown as {
      cpuMicros: number;
    };
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
      requests: { average: number; total: number };
      warmup?: { requests: { total: number } };
      latency: { p50: number; p99: number };
      errors: number;
      non2xx: number;
    };
    const served = r.requests.total + (r.warmup?.requests.total ?? 0);
    return {
      rps: r.requests.average,
      cpuPerReq: cpuMicros / served,
      p50: r.latency.p50,
      p99: r.latency.p99,
      errors: r.errors + r.non2xx,
    };
  } finally {
    server.kill();
  }
}

/** Every selected stack, bare and lameduck alternated for `ctx.rounds` pairs. */
export async function overhead(ctx: BenchContext): Promise<OverheadResult[]> {
  const options = ctx.smoke
    ? { seconds: 1, warmup: 0, connections: 32 }
    : { seconds: 3, warmup: 1, connections: 32 };
  const results: OverheadResult[] = [];
  for (const stack of stacks.filter((s) => ctx.wants(s))) {
    const runs = await alternate(
      ctx.rounds,
      modes,
      (mode) => measureOverhead(stack, mode, options),
      (mode, round, r) =>
        ctx.log(
          `overhead ${stack} pair ${round + 1} ${mode}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ${r.cpuPerReq.toFixed(1)} µs CPU/req`,
        ),
    );
    const pairs = runs.bare.map((a, i) => [a, runs.lameduck[i]!] as const);
    results.push({
      stack,
      ...options,
      bare: runs.bare,
      lameduck: runs.lameduck,
      rpsRatio: summarize(pairs.map(([a, b]) => b.rps / a.rps)),
      cpuRatio: summarize(pairs.map(([a, b]) => b.cpuPerReq / a.cpuPerReq)),
    });
  }
  return results;
}
