// The processes of the per-request cost benchmark, seen from the bench: a server (server.ts) that tells
// its CPU time when asked, a load generator (load.ts) that runs one slice of autocannon load when asked,
// and one measured slice: the server's CPU time read just before and just after the load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, run, spawnTs } from '../child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const stacks = ['node', 'express', 'fastify', 'koa'] as const;
export type Stack = (typeof stacks)[number];
export type Mode = 'bare' | 'lameduck';

/** How long the bench waits for an answer beyond the slice itself: generous, for a loaded machine. */
const SLACK_MS = 15_000;

/**
 * Which CPU each process runs on: the load generator on one, both servers on another. Left to the
 * scheduler, two identical bare servers did not run alike: the one started second served more requests
 * in 7 of 8 rounds on this 2-core VM (6 % more at the median; pinned, 5 of 8 and 1 %). With both servers
 * on the same CPU, neither has the better place. Needs `taskset` (Linux) and two CPUs; elsewhere the
 * processes are left to the scheduler.
 */
export function placement(): { load?: string; servers?: string } {
  const taskset = ['/usr/bin/taskset', '/bin/taskset'].some((f) => fs.existsSync(f));
  return taskset && os.availableParallelism() >= 2 ? { load: '0', servers: '1' } : {};
}

/**
 * Moves a running process to `cpu`, every thread of it (`-a`: V8's and libuv's too). A process is
 * pinned once it is ready rather than started pinned: two servers starting on one CPU took longer to
 * start, half a second of every round.
 */
async function pin(child: Child, cpu: string | undefined): Promise<void> {
  if (cpu === undefined || child.process.pid === undefined) return;
  await run('taskset', ['-a', '-p', '-c', cpu, String(child.process.pid)]);
}

export interface Server {
  readonly child: Child;
  readonly port: number;
  /** CPU time used so far (user + system, µs) and the monotonic clock (µs, V8's profile clock). */
  usage(): Promise<{ cpu: number; mono: number }>;
  /** SIGTERM (which exits cleanly, writing a --cpu-prof profile), then the exit. */
  stop(): Promise<void>;
}

export async function startServer(
  stack: Stack,
  mode: Mode,
  options: { nodeArgs?: readonly string[]; args?: readonly string[] } = {},
): Promise<Server> {
  const child = spawnTs(path.join(here, 'server.ts'), [stack, mode, ...(options.args ?? [])], {
    nodeArgs: options.nodeArgs ?? [],
  });
  try {
    const { port } = (await child.message((m) => m.port !== undefined)) as unknown as { port: number };
    await pin(child, placement().servers);
    return {
      child,
      port,
      async usage() {
        const reply = child.message((m) => m.cpu !== undefined, SLACK_MS);
        child.process.stdin!.write('usage\n');
        const { cpu, mono } = (await reply) as unknown as { cpu: number; mono: number };
        return { cpu, mono };
      },
      async stop() {
        child.process.kill('SIGTERM');
        const timer = setTimeout(() => child.kill(), SLACK_MS);
        await child.exited;
        clearTimeout(timer);
      },
    };
  } catch (err) {
    child.kill();
    throw err;
  }
}

/** What one slice of load got from the server it was aimed at. */
export interface Slice {
  requests: number;
  /** The slice's own duration, from autocannon's start to its end (ms). */
  ms: number;
  /** Latency percentiles of the slice's responses (ms). */
  p50: number;
  p99: number;
  /** Socket errors, timeouts and responses other than 2xx. */
  errors: number;
  /** The server's CPU time over the slice (µs). */
  cpu: number;
  /** The server's monotonic clock just before and just after the slice (µs). */
  from: number;
  to: number;
}

export interface Load {
  readonly child: Child;
  /** Runs one slice against `server` and measures the server's CPU time around it. */
  slice(server: Server, ms: number): Promise<Slice>;
}

export async function startLoad(connections: number): Promise<Load> {
  const child = spawnTs(path.join(here, 'load.ts'), [String(connections)]);
  try {
    await child.message((m) => m.ready === true);
    await pin(child, placement().load);
  } catch (err) {
    child.kill();
    throw err;
  }
  return {
    child,
    async slice(server, ms) {
      const before = await server.usage();
      const reply = child.message((m) => m.slice === true, ms + SLACK_MS);
      child.process.stdin!.write(`${JSON.stringify({ port: server.port, ms })}\n`);
      const r = (await reply) as unknown as Omit<Slice, 'cpu' | 'from' | 'to'>;
      const after = await server.usage();
      // A slice without a single response has no percentiles: JSON carried them as null.
      const orNaN = (v: number | null) => v ?? Number.NaN;
      return {
        requests: r.requests,
        ms: r.ms,
        p50: orNaN(r.p50),
        p99: orNaN(r.p99),
        errors: r.errors,
        cpu: after.cpu - before.cpu,
        from: before.mono,
        to: after.mono,
      };
    },
  };
}
