import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Child, type JsonLine as Line, sourceArgs } from '@lameduck/testkit';
import { type Attempt, type ClientContext, runSession } from './clients.js';
import { now } from './clock.js';
import type { TrialPlan } from './plan.js';
import type { ChildConfig } from './server.js';

/** The keeper's command, run from its TypeScript sources like every other process of a trial. */
const binPath = path.join(
  path.dirname(fileURLToPath(import.meta.resolve('@lameduck/keeper/package.json'))),
  'src/bin/lameduck.ts',
);

const serverPath = fileURLToPath(new URL('./server.ts', import.meta.url));

/** A signal the runner sent, and when. */
export interface SentSignal {
  pid: number;
  signal: NodeJS.Signals;
  t: number;
}

export interface TrialRecord {
  plan: TrialPlan;
  /** When the load started (the server listened). */
  t0: number;
  /** Every JSON line of every process (servers, keeper), in arrival order. */
  lines: Line[];
  signals: SentSignal[];
  /** Exit of the process the runner started (the server, or the keeper). */
  mainPid: number;
  mainExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** When the runner saw it exit: after the process, and every socket it held, was gone. */
  mainExitAt: number | undefined;
  attempts: Attempt[];
  /** Problems of the harness itself (a process never listened, never exited, a bound hit). */
  problems: string[];
  wallMs: number;
}

/** How long a process may take to listen: tsx compiles the app first, slowly on a loaded machine. */
const startupBound = 60_000;

/**
 * Resolves true when `promise` settles within `ms`, false otherwise; the timer is cancelled either way,
 * so that a bound never keeps the runner alive after the trial.
 */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      sleep(ms, false, { signal: timer.signal }).catch(() => false),
    ]);
  } finally {
    timer.abort();
  }
}

function waitLine(proc: Child, match: (l: Line) => boolean, ms: number): Promise<Line | undefined> {
  return proc.json(match, { ms }).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The bound on one process's drain and exit (see the README): timeout + post-deadline wait + hooks. */
export function drainBound(plan: TrialPlan): number {
  const s = plan.server;
  const afterHooks = s.hooks.filter((h) => h.phase === 'afterDrain').reduce((n, h) => n + h.timeout, 0);
  const fastifyClose = s.framework === 'fastify' ? s.hookTimeout : 0;
  return s.options.timeout + 1_000 + afterHooks + fastifyClose;
}

export async function runTrial(
  plan: TrialPlan,
  tls: { key: string; cert: string } | undefined,
): Promise<TrialRecord> {
  const started = performance.now();
  const s = plan.server;
  const secure = s.protocol === 'https' || s.protocol === 'h2';
  const config: ChildConfig = { ...s, ...(secure && tls ? { tls } : {}) };
  const env = { LAMEDUCK_CHAOS: JSON.stringify(config) };
  const serverCommand = [process.execPath, ...sourceArgs, serverPath];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-chaos-'));
  const main =
    s.restart === 'keeper'
      ? new Child(
          process.execPath,
          [
            ...sourceArgs,
            binPath,
            'run',
            '--listen',
            'http=127.0.0.1:0',
            '--control',
            path.join(dir, 'keeper.sock'),
            '--settle',
            '200ms',
            '--ready-timeout',
            `${startupBound}ms`,
            // Longer than a worker's own bound, so the keeper never kills a worker that drains in time.
            '--drain-timeout',
            `${drainBound(plan) + 10_000}ms`,
            '--',
            ...serverCommand,
          ],
          { env, detached: true },
        )
      : new Child(process.execPath, serverCommand.slice(1), { env, detached: true });
  const record: TrialRecord = {
    plan,
    t0: 0,
    lines: main.lines,
    signals: [],
    mainPid: main.pid,
    mainExit: undefined,
    mainExitAt: undefined,
    attempts: [],
    problems: [],
    wallMs: 0,
  };
  const send = (pid: number, signal: NodeJS.Signals) => {
    record.signals.push({ pid, signal, t: now() });
    try {
      process.kill(pid, signal);
    } catch {}
  };
  void main.exited.then((exit) => {
    record.mainExit = exit;
    record.mainExitAt = now();
  });
  let ids = 0;
  const ctx: ClientContext = {
    port: 0,
    secure,
    nextId: () => ++ids,
    attempts: record.attempts,
    live: new Set(),
    timedOut: false,
  };
  const pids = new Set<number>([main.pid]);
  try {
    const first = await waitLine(main, (l) => l.chaos === 'listening', startupBound);
    if (first === undefined) {
      record.problems.push(
        `the server did not listen within ${startupBound} ms:\n${main.output.slice(-3_000)}`,
      );
      return record;
    }
    const serving = Number(first.pid);
    pids.add(serving);
    ctx.port = Number(first.port);
    record.t0 = now();
    const t0 = record.t0;
    const sessions = plan.sessions.map(async (session, i) => {
      await sleep(Math.max(0, t0 + session.at - now()));
      await runSession(ctx, i, session);
    });

    await sleep(Math.max(0, t0 + plan.event.at - now()));
    const e = plan.event;
    const exitBound = drainBound(plan) + 15_000;
    if (e.kind === 'SIGTERM' || e.kind === 'SIGINT') {
      send(main.pid, e.kind);
    } else if (e.kind === 'double') {
      send(main.pid, 'SIGTERM');
      await within(main.exited, e.second!.after);
      if (record.mainExit === undefined) send(main.pid, e.second!.signal);
    } else {
      // A restart, then the process serving at the end gets SIGTERM (the keeper passes it on).
      const target = e.kind === 'self-upgrade' ? serving : main.pid;
      const mark = main.lines.length;
      send(target, 'SIGHUP');
      const handedOver =
        e.kind === 'self-upgrade'
          ? waitLine(main, (l) => l.chaos === 'exit' && l.pid === serving, startupBound + exitBound)
          : waitLine(
              main,
              (l) =>
                l.msg === 'generation drained' ||
                (typeof l.msg === 'string' && l.msg.startsWith('reload rolled back')),
              startupBound + exitBound,
            );
      const next = await waitLine(main, (l) => l.chaos === 'listening' && l.pid !== serving, startupBound);
      if (next === undefined) record.problems.push('the restart never brought up a new process');
      else pids.add(Number(next.pid));
      if ((await handedOver) === undefined) record.problems.push('the hand-over never finished');
      const rolledBack = main.lines
        .slice(mark)
        .find((l) => typeof l.msg === 'string' && /rolled back/.test(l.msg));
      if (rolledBack !== undefined)
        record.problems.push(`the restart rolled back: ${String(rolledBack.msg)}`);
      await sleep(Math.max(0, t0 + e.stopAt! - now()));
      const last = e.kind === 'self-upgrade' && next !== undefined ? Number(next.pid) : main.pid;
      send(last, 'SIGTERM');
    }

    // Every process holding the stderr pipe (the server, a successor, the keeper and its workers) is gone.
    const gone = await within(main.closed, exitBound);
    if (!gone)
      record.problems.push(`a server process was still running ${exitBound} ms after its stop signal`);
    await main.exited;
    // Sockets close with the processes: the sessions settle at once, except those not started yet.
    const settled = await within(Promise.all(sessions), Math.max(0, t0 + plan.loadEnd - now()) + 10_000);
    if (!settled) {
      ctx.timedOut = true;
      for (const handle of ctx.live) handle.destroy();
      record.problems.push('client sessions were still waiting 10 s after the last server process exited');
    }
    return record;
  } finally {
    ctx.timedOut = true;
    for (const handle of ctx.live) handle.destroy();
    for (const l of main.lines) if (l.chaos === 'listening') pids.add(Number(l.pid));
    // Only processes this trial started: each runs in a process group of its own.
    for (const pid of pids) {
      if (alive(pid)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      }
    }
    await main.exited;
    fs.rmSync(dir, { recursive: true, force: true });
    record.wallMs = Math.round(performance.now() - started);
  }
}
