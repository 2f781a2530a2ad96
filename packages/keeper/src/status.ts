import type { Generation } from './generation.js';
import { type HeldSocket, socketLabel } from './sockets.js';
import type { WorkerStats } from './worker.js';

/** How long `status` waits for the workers' drain progress; a busy worker shows as not answering. */
const STATS_MS = 1_000;

export interface WorkerSnapshot {
  slot: number;
  pid?: number;
  state: string;
  uptimeMs?: number;
  restarts?: number;
  /** From the worker itself over the control channel; absent when it did not answer in time. */
  inFlight?: number;
  connections?: number;
}

export interface GenerationSnapshot {
  id: number;
  state: string;
  uptimeMs: number;
  drainingMs?: number;
  /** Sums over the workers that answered: the drain progress of a draining generation. */
  inFlight?: number;
  connections?: number;
  workers: WorkerSnapshot[];
}

export interface KeeperSnapshot {
  keeper: {
    pid: number;
    uptimeMs: number;
    state: string;
    serving: number | undefined;
    reloads: { done: number; rolledBack: number };
  };
  sockets: { name: string; label: string; address: string; origin: string; fd: number }[];
  generations: GenerationSnapshot[];
}

export interface SnapshotInput {
  startedAt: number;
  state: string;
  serving: number | undefined;
  reloads: { done: number; rolledBack: number };
  sockets: readonly HeldSocket[];
  generations: readonly Generation[];
}

/** The `lameduck status` answer; asks every live worker for its drain progress (bounded wait). */
export async function snapshot(input: SnapshotInput): Promise<KeeperSnapshot> {
  const live = input.generations.flatMap((g) => g.live);
  const answers = await Promise.all(live.map((w) => w.stats(STATS_MS)));
  const stats = new Map<number, WorkerStats>();
  live.forEach((w, i) => {
    const answer = answers[i];
    if (answer !== undefined) stats.set(w.pid, answer);
  });
  const now = Date.now();
  return {
    keeper: {
      pid: process.pid,
      uptimeMs: now - input.startedAt,
      state: input.state,
      serving: input.serving,
      reloads: input.reloads,
    },
    sockets: input.sockets.map((s) => ({
      name: s.name,
      label: socketLabel(s),
      address: s.address,
      origin: s.origin,
      fd: s.fd,
    })),
    generations: input.generations.map((g) => {
      const workers: WorkerSnapshot[] = g.workers.map((w, slot) => {
        if (w === undefined) return { slot, state: 'given-up' };
        const s = stats.get(w.pid);
        return {
          slot,
          pid: w.pid,
          state: w.state,
          uptimeMs: now - w.startedAt,
          restarts: g.backoff.failures(slot),
          ...(s === undefined ? {} : { inFlight: s.inFlight, connections: s.connections }),
        };
      });
      const answered = workers.filter((w) => w.inFlight !== undefined);
      return {
        id: g.id,
        state: g.state,
        uptimeMs: now - g.startedAt,
        ...(g.drainStartedAt === undefined ? {} : { drainingMs: now - g.drainStartedAt }),
        ...(answered.length === 0
          ? {}
          : {
              inFlight: answered.reduce((n, w) => n + (w.inFlight ?? 0), 0),
              connections: answered.reduce((n, w) => n + (w.connections ?? 0), 0),
            }),
        workers,
      };
    }),
  };
}

function seconds(ms: unknown): string {
  return typeof ms === 'number' ? `${(ms / 1000).toFixed(1)}s` : '-';
}

function progress(p: { inFlight?: number; connections?: number }): string {
  if (p.inFlight === undefined) return '';
  const requests = p.inFlight === 1 ? 'request' : 'requests';
  const connections = p.connections === 1 ? 'connection' : 'connections';
  return `${p.inFlight} ${requests} in flight, ${p.connections} ${connections} open`;
}

/** The human-readable `lameduck status` (the `--json` answer is a {@link KeeperSnapshot}). */
export function formatStatus(s: KeeperSnapshot): string {
  const k = s.keeper;
  const lines = [
    `keeper ${k.pid}  ${k.state}  up ${seconds(k.uptimeMs)}  serving generation ${k.serving ?? '-'}  reloads ${k.reloads.done} done, ${k.reloads.rolledBack} rolled back`,
  ];
  for (const sock of s.sockets) {
    const name = sock.label === sock.address ? '' : `${sock.label}  `;
    lines.push(
      `  socket ${name}${sock.address}  (${sock.origin === 'systemd' ? 'from systemd' : 'bound'}, fd ${sock.fd})`,
    );
  }
  for (const g of s.generations) {
    const draining =
      g.drainingMs === undefined
        ? ''
        : `  draining for ${seconds(g.drainingMs)}${g.inFlight === undefined ? '' : `: ${progress(g)}`}`;
    lines.push(`  generation ${g.id}  ${g.state}  up ${seconds(g.uptimeMs)}${draining}`);
    for (const w of g.workers) {
      const load = w.pid === undefined ? '' : w.inFlight === undefined ? '  (no answer)' : `  ${progress(w)}`;
      lines.push(
        `    worker ${w.slot}  pid ${w.pid ?? '-'}  ${w.state}  up ${seconds(w.uptimeMs)}  restarts ${w.restarts ?? 0}${load}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
