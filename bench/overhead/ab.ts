// Per-request cost, bare vs lameduck, for each stack, in interleaved slices. Each round starts a bare and
// a lameduck server process side by side and one autocannon process (load.ts), warms both up, then turns
// the load from one server to the other every half second or so. This VM's throughput swings by a
// factor of two within seconds; slices that short put both servers through the same slow spells, which
// runs of several seconds each, one after the other, did not (their ratios spread by ±15 %). The two
// servers share one CPU and autocannon has the other (slices.ts). Each server's CPU time is read around
// each of its slices, so CPU per request is measured too. Rounds start fresh processes, so what one
// process happened to get (memory layout, JIT decisions) is not counted as the difference between the
// two.
import type { BenchContext } from '../context.js';
import { type Summary, summarize } from '../stats.js';
import type { Attribution } from './attribute.js';
import { profileLameduck } from './profile.js';
import {
  type Mode,
  placement,
  type Server,
  type Slice,
  type Stack,
  stacks,
  startLoad,
  startServer,
} from './slices.js';

export { type Stack, stacks } from './slices.js';

export interface OverheadSettings {
  /** autocannon's keep-alive connections, in every slice. */
  connections: number;
  /** One slice of load on one server (ms). */
  sliceMs: number;
  /** Slices of warm-up per server at the start of a round, turn about, not measured. */
  warmupSlices: number;
  /** Measured slices per server per round. */
  slices: number;
  /** Warm-up and measured window of the profiled run (ms). */
  profileWarmupMs: number;
  profileMs: number;
}

// A fresh server serves about a fifth of its steady rate in its first half second of load (JIT
// compilation, node's lazily loaded internals), and about half in the next: two slices of warm-up each,
// before the 8 measured ones, bring both to their steady rate. 0.45 s slices keep the four stacks,
// 5 rounds each, within about 4 minutes.
const FULL: OverheadSettings = {
  connections: 32,
  sliceMs: 450,
  warmupSlices: 2,
  slices: 8,
  profileWarmupMs: 1_000,
  profileMs: 2_000,
};
const SMOKE: OverheadSettings = {
  connections: 32,
  sliceMs: 100,
  warmupSlices: 1,
  slices: 2,
  profileWarmupMs: 100,
  profileMs: 300,
};

/** One server's slices of one round, added up. */
export interface OverheadRun {
  /** Requests over the slices' summed duration. */
  rps: number;
  /** Server CPU µs per request: its CPU time over its slices, over their requests. */
  cpuPerReq: number;
  /** Medians of the slices' p50 and p99 (ms). */
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

export interface OverheadResult extends OverheadSettings {
  stack: Stack;
  /** The CPUs the load generator and the servers were pinned to, when they were. */
  placement: { load?: string; servers?: string };
  /** Per round, in round order. */
  bare: OverheadRun[];
  lameduck: OverheadRun[];
  /** Per round: lameduck's req/s divided by bare's. */
  rpsRatio: Summary;
  /** Per round: lameduck's server CPU per request divided by bare's. */
  cpuRatio: Summary;
  /** Per round: lameduck's p99 divided by bare's. */
  p99Ratio: Summary;
  /** lameduck's share of its server's CPU under load, from one profiled run. */
  profile: Attribution;
}

function total(slices: readonly Slice[]): OverheadRun {
  const requests = slices.reduce((n, s) => n + s.requests, 0);
  const ms = slices.reduce((n, s) => n + s.ms, 0);
  const cpu = slices.reduce((n, s) => n + s.cpu, 0);
  return {
    rps: (requests * 1_000) / ms,
    cpuPerReq: cpu / requests,
    p50: summarize(slices.map((s) => s.p50)).median,
    p99: summarize(slices.map((s) => s.p99)).median,
    errors: slices.reduce((n, s) => n + s.errors, 0),
    requests,
  };
}

/**
 * One round: both servers and the load process start together; both are warmed up in slices, A B A B,
 * then get `slices` measured slices each in the order A B B A A B …, so that over each two pairs both
 * servers sit at the same mean position in time and a machine that drifts slower (or faster) through
 * the round favours neither. Which server is A alternates with the round, so neither always goes first.
 */
async function round(
  stack: Stack,
  index: number,
  settings: OverheadSettings,
): Promise<Record<Mode, OverheadRun>> {
  const order: readonly Mode[] = index % 2 === 0 ? ['bare', 'lameduck'] : ['lameduck', 'bare'];
  const starting = [
    startServer(stack, 'bare'),
    startServer(stack, 'lameduck'),
    startLoad(settings.connections),
  ] as const;
  try {
    const [bare, lameduck, load] = await Promise.all(starting);
    const servers: Record<Mode, Server> = { bare, lameduck };
    for (let i = 0; i < settings.warmupSlices; i++) {
      for (const mode of order) await load.slice(servers[mode], settings.sliceMs);
    }
    const slices: Record<Mode, Slice[]> = { bare: [], lameduck: [] };
    for (let i = 0; i < settings.slices; i++) {
      for (const mode of i % 2 === 0 ? order : [...order].reverse()) {
        slices[mode].push(await load.slice(servers[mode], settings.sliceMs));
      }
    }
    return { bare: total(slices.bare), lameduck: total(slices.lameduck) };
  } finally {
    // Also when one of them failed to start: the others are waited for, then killed.
    for (const p of await Promise.allSettled(starting)) if (p.status === 'fulfilled') p.value.child.kill();
  }
}

/** Every selected stack: `ctx.rounds` rounds of interleaved slices, then one profiled run. */
export async function overhead(ctx: BenchContext): Promise<OverheadResult[]> {
  const settings = ctx.smoke ? SMOKE : FULL;
  const results: OverheadResult[] = [];
  for (const stack of stacks.filter((s) => ctx.wants(s))) {
    const bare: OverheadRun[] = [];
    const lameduck: OverheadRun[] = [];
    for (let i = 0; i < ctx.rounds; i++) {
      const r = await round(stack, i, settings);
      bare.push(r.bare);
      lameduck.push(r.lameduck);
      ctx.log(
        `overhead ${stack} round ${i + 1}: ${r.bare.rps.toFixed(0)} → ${r.lameduck.rps.toFixed(0)} req/s (${pct(r.lameduck.rps / r.bare.rps)}), CPU ${r.bare.cpuPerReq.toFixed(1)} → ${r.lameduck.cpuPerReq.toFixed(1)} µs/req (${pct(r.lameduck.cpuPerReq / r.bare.cpuPerReq)}), p99 ${r.bare.p99.toFixed(2)} → ${r.lameduck.p99.toFixed(2)} ms`,
      );
    }
    const profile = await profileLameduck(stack, {
      connections: settings.connections,
      warmupMs: settings.profileWarmupMs,
      ms: settings.profileMs,
    });
    ctx.log(
      `overhead ${stack} profile: lameduck ${pct(profile.share)} of ${profile.busy} busy samples, node work it causes ${pct(profile.causedShare)}`,
    );
    const ratio = (pick: (r: OverheadRun) => number) =>
      summarize(bare.map((b, i) => pick(lameduck[i]!) / pick(b)));
    results.push({
      stack,
      ...settings,
      placement: placement(),
      bare,
      lameduck,
      rpsRatio: ratio((r) => r.rps),
      cpuRatio: ratio((r) => r.cpuPerReq),
      p99Ratio: ratio((r) => r.p99),
      profile,
    });
  }
  return results;
}

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
