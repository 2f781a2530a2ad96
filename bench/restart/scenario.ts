// One restart run: a steady keep-alive load, one restart, more load, then a shutdown under the load.
// Every request is recorded, so a run yields the figures (failed requests, time per restart, worst
// latency during the hand-over next to the steady p99, what the shutdown did to the clients) and the
// timeline drawn in the report.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../child.js';
import { wallNow } from '../clock.js';
import type { BenchContext } from '../context.js';
import { type Outcome, PacedLoad, type Sample } from '../load.js';
import { alternate, percentile } from '../stats.js';
import { EventLog } from './events.js';
import { createMethod, type MethodName, methods } from './methods.js';

export interface RestartRun {
  method: MethodName;
  /** From the restart request until the method said it was done (ms). */
  restartMs: number;
  /** From the restart request until the last old process exited (ms). */
  oldGoneMs: number;
  steady: { rps: number; p99: number };
  /** Requests that were in progress at any time between the restart request and the old process's exit. */
  handover: { requests: number; failed: number; worstMs: number; failures: string[] };
  /** From the shutdown request until every process was gone (ms), and what requests in it got. */
  shutdown: { ms: number } & Record<Outcome, number>;
  /** For the picture: every request, and the moments of the run (wall clock). */
  samples: Sample[];
  marks: { loadStart: number; restart: number; restartDone: number; stop: number; stopDone: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RestartTiming {
  /** Load before the restart (ms); its first 500 ms are a warm-up left out of the steady figures. */
  steadyMs: number;
  /** Load after the hand-over, before the shutdown (ms). */
  betweenMs: number;
  clients: number;
  rate: number;
}

export async function restartRun(name: MethodName, timing: RestartTiming): Promise<RestartRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lameduck-bench-${name}-`));
  const events = new EventLog(path.join(dir, 'events.jsonl'));
  const port = await freePort();
  const method = createMethod(name, { port, dir, events });
  let load: PacedLoad | undefined;
  try {
    await method.start();
    load = new PacedLoad({ port, clients: timing.clients, rate: timing.rate, maxMs: 60_000 });
    const loadStart = load.startedAt;
    await sleep(timing.steadyMs);
    const before = new Set(events.listening());
    const restart = wallNow();
    await method.restart();
    const restartDone = wallNow();
    const exits = await Promise.all(
      [...before].map((pid) =>
        events.wait((e) => e.event === 'exiting' && e.pid === pid, `exit of the old process ${pid}`),
      ),
    );
    const oldGone = Math.max(restartDone, ...exits.map((e) => e.at));
    await sleep(Math.max(0, oldGone + timing.betweenMs - wallNow()));
    load.stopOnRefused();
    const stop = wallNow();
    await method.stop();
    const stopDone = wallNow();
    // Clients stop at their first refused connection; the bound covers a server that never refuses.
    await Promise.race([load.done, sleep(1_000)]);
    const samples = await load.stop();

    const steadySamples = samples.filter((s) => s.sentAt >= loadStart + 500 && s.doneAt < restart);
    const inHandover = samples.filter((s) => s.doneAt >= restart && s.sentAt <= oldGone);
    const failedInHandover = inHandover.filter((s) => s.outcome !== 'ok');
    const shutdown = { ms: stopDone - stop, ok: 0, rejected: 0, reset: 0, other: 0 };
    for (const s of samples) if (s.doneAt >= stop) shutdown[s.outcome]++;
    return {
      method: name,
      restartMs: restartDone - restart,
      oldGoneMs: oldGone - restart,
      steady: {
        rps: (1_000 * steadySamples.length) / Math.max(1, restart - (loadStart + 500)),
        p99: percentile(
          steadySamples.map((s) => s.doneAt - s.sentAt),
          99,
        ),
      },
      handover: {
        requests: inHandover.length,
        failed: failedInHandover.length,
        worstMs: Math.max(0, ...inHandover.map((s) => s.doneAt - s.sentAt)),
        failures: [...new Set(failedInHandover.map((s) => s.detail ?? s.outcome))],
      },
      shutdown,
      samples,
      marks: { loadStart, restart, restartDone, stop, stopDone },
    };
  } finally {
    await load?.stop();
    method.dispose();
    events.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every selected method, in rotation for `ctx.rounds` rounds. */
export async function restarts(
  ctx: BenchContext,
): Promise<{ timing: RestartTiming; runs: Partial<Record<MethodName, RestartRun[]>> }> {
  const timing: RestartTiming = ctx.smoke
    ? { steadyMs: 800, betweenMs: 300, clients: 10, rate: 200 }
    : { steadyMs: 2_000, betweenMs: 1_000, clients: 10, rate: 500 };
  const runs = await alternate(
    ctx.rounds,
    methods.filter((m) => ctx.wants(m)),
    (name) => restartRun(name, timing),
    (name, round, r) =>
      ctx.log(
        `restart ${name} round ${round + 1}: ${r.restartMs.toFixed(0)} ms (old gone ${r.oldGoneMs.toFixed(0)} ms), ${r.handover.failed}/${r.handover.requests} failed in the hand-over, worst ${r.handover.worstMs.toFixed(1)} ms vs steady p99 ${r.steady.p99.toFixed(1)} ms; shutdown ${r.shutdown.ms.toFixed(0)} ms: ${r.shutdown.ok} ok, ${r.shutdown.rejected} rejected, ${r.shutdown.reset} reset, ${r.shutdown.other} other`,
      ),
  );
  return { timing, runs };
}
