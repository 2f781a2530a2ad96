import { type HeldSocket, socketLabel } from './bind.js';
import type { Generation } from './keeper-generation.js';
import type { WorkerStats } from './keeper-worker.js';

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
          restarts: g.failures[slot] ?? 0,
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
