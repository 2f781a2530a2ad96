// The four runs of the demo: a shutdown and a restart, each the naive way and lameduck's, under the same
// keep-alive load. Each run returns what the clients saw and the moments that matter, for the summary
// and the timeline.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Load, type LoadOptions, type Sample, type Tally } from './load.js';
import type { Output } from './output.js';
import {
  atMost,
  type Children,
  demoFile,
  freePort,
  keeperCommand,
  type Proc,
  sleep,
  tsNode,
} from './processes.js';

export type Method = 'naive' | 'lameduck';

export interface RunResult {
  kind: 'shutdown' | 'restart';
  method: Method;
  title: string;
  /** The busy clients' answers from the moment the slow requests started, and the slow requests'. */
  busy: Tally;
  slow: Tally;
  slowCount: number;
  samples: Sample[];
  marks: { at: number; label: string }[];
  endAt: number;
  /** Requests lost: reset, other, a slow request not answered 200, and refused during a restart. */
  lost: number;
  /** How long the event took, in words. */
  took: string;
  /** Anything else that went wrong (an exit code, a failed reload). */
  problems: string[];
}

export interface RunContext {
  out: Output;
  children: Children;
}

/** A server process, possibly started ahead of its run (its output is held until the run shows it). */
export interface Server {
  proc: Proc;
  /** Resolves with the port once it serves. */
  serving: Promise<number>;
  /** Removes what it left on disk. */
  cleanup(): void;
}

const STEADY_MS = 1_000;
const AFTER_MS = 1_000;
const SLOW = 10;

const loadOptions = (port: number, onRefused: LoadOptions['onRefused']): LoadOptions => ({
  port,
  clients: 20,
  paceMs: 20,
  slowRequests: SLOW,
  idleSockets: 5,
  onRefused,
});

const LISTENING = /^listening on http:\/\/[\d.]+:(\d+) \(pid (\d+)/;
const SLOW_STARTED = /^slow request started$/;

function serving(proc: Proc, port: Promise<number>, cleanup = () => {}): Server {
  // Awaited later (a server started ahead of its run): its failure is reported then, not as unhandled.
  port.catch(() => {});
  return { proc, serving: port, cleanup };
}

/** The naive server: plain node, no TypeScript loader. */
export function naiveServer(ctx: RunContext, port = 0): Server {
  const proc = ctx.children.start([process.execPath, demoFile('./naive-server.mjs')], { PORT: String(port) });
  return serving(
    proc,
    proc.waitFor(LISTENING).then((m) => Number(m[1])),
  );
}

/** The example app with lameduck, on its own. */
export function lameduckServer(ctx: RunContext): Server {
  const proc = ctx.children.start([...tsNode, demoFile('./lameduck-server.ts')], { PORT: '0' });
  return serving(
    proc,
    proc.waitFor(LISTENING).then((m) => Number(m[1])),
  );
}

/** The keeper (`lameduck run`) on a free port, running the same app as its worker. */
export async function keeper(ctx: RunContext): Promise<Server> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-demo-'));
  const proc = ctx.children.start(
    [
      ...keeperCommand,
      'run',
      '--listen',
      `127.0.0.1:${port}`,
      '--control',
      path.join(dir, 'control.sock'),
      '--',
      ...tsNode,
      demoFile('./lameduck-server.ts'),
    ],
    {},
  );
  return serving(
    proc,
    proc.waitFor(/"msg":"generation serving"/).then(() => port),
    () => fs.rmSync(dir, { recursive: true, force: true }),
  );
}

/** Shows a process's lines: the keeper's JSON log compactly, everything else as it is. */
function show(ctx: RunContext, who: string, proc: Proc): void {
  proc.show((line) => {
    if (SLOW_STARTED.test(line)) return;
    const m = LISTENING.exec(line);
    if (m !== null)
      ctx.out.from(who, line.replace(/^listening on http:\/\/[\d.:]+/, `listening on :${m[1]}`));
    else if (line.startsWith('{')) ctx.out.from('keeper', keeperLine(line));
    else ctx.out.from(who, line);
  });
}

/** One JSON log line of the keeper, as `msg key=value ...` without its time, level and PID. */
function keeperLine(line: string): string {
  try {
    const {
      msg,
      time: _time,
      level: _level,
      keeper: _keeper,
      ...fields
    } = JSON.parse(line) as Record<string, unknown>;
    const rest = Object.entries(fields).map(
      ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
    );
    return [String(msg), ...rest].join(' ');
  } catch {
    return line;
  }
}

/** What every run reports of its load: the tallies, the samples and the requests lost. */
function measured(
  kind: RunResult['kind'],
  l: Load,
): Pick<RunResult, 'kind' | 'busy' | 'slow' | 'slowCount' | 'samples' | 'lost'> {
  const { busy, slow } = l;
  const lost = busy.reset + busy.other + (kind === 'restart' ? busy.refused : 0) + (SLOW - slow.ok);
  return { kind, busy, slow, slowCount: SLOW, samples: l.samples, lost };
}

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

/**
 * Steady keep-alive load, then 10 slow requests put in flight: resolves once the server has every one
 * of them (it prints a line for each), so that the signal that follows finds them in flight.
 */
async function loadUpToTheEvent(ctx: RunContext, l: Load, server: Proc): Promise<void> {
  ctx.out.phase('steady keep-alive load', () => l);
  await sleep(STEADY_MS);
  l.count();
  l.startSlow();
  await atMost(10_000, server.waitFor(SLOW_STARTED, SLOW));
}

/**
 * SIGTERM to a server under load; each busy client stops at its first refused connection (the server is
 * gone). `meanwhile` runs while the server shuts down.
 */
export async function shutdownRun(
  ctx: RunContext,
  method: Method,
  server: Server,
  meanwhile: () => void = () => {},
): Promise<RunResult> {
  ctx.out.phase(`starting the ${method} server`);
  show(ctx, 'server', server.proc);
  const port = await server.serving;
  const l = new Load(loadOptions(port, 'stop'));
  await loadUpToTheEvent(ctx, l, server.proc);
  const at = (t: number) => t - l.startedAt;
  const sigterm = performance.now();
  ctx.out.phase('SIGTERM: shutting down', () => l);
  ctx.out.from(
    'demo',
    `SIGTERM with ${SLOW} slow requests in flight, 5 idle sockets, 20 busy keep-alive clients`,
  );
  server.proc.signal('SIGTERM');
  meanwhile();
  const exit = await server.proc.ended();
  const exitedAt = performance.now();
  ctx.out.from('demo', `the server ended (${describeExit(exit)})`);
  // The clients stop at their first refused connection; the bound covers a server that never refuses.
  await atMost(3_000, l.busyDone());
  const loadEnd = at(performance.now());
  await l.stop();
  ctx.out.endPhase();
  return {
    ...measured('shutdown', l),
    method,
    title: method === 'naive' ? 'naive: server.close() on SIGTERM' : 'lameduck: createLameduck() on SIGTERM',
    marks: [
      { at: at(sigterm), label: 'SIGTERM' },
      { at: at(exitedAt), label: 'exited' },
    ],
    endAt: Math.max(loadEnd, at(exitedAt)),
    took: `exited ${Math.round(exitedAt - sigterm)} ms after SIGTERM`,
    problems: exit.code === 0 ? [] : [`the server ended with ${describeExit(exit)}`],
  };
}

/** The naive restart: stop the old process (SIGTERM, wait for its exit), then start the new one. */
export async function naiveRestartRun(ctx: RunContext): Promise<RunResult> {
  const port = await freePort();
  ctx.out.phase('starting the naive server');
  const first = naiveServer(ctx, port);
  show(ctx, 'server', first.proc);
  await first.serving;
  // Clients keep sending at their pace through the outage, as users do.
  const l = new Load(loadOptions(port, 'retry'));
  await loadUpToTheEvent(ctx, l, first.proc);
  const at = (t: number) => t - l.startedAt;
  const stop = performance.now();
  ctx.out.phase('stopping the old process', () => l);
  first.proc.signal('SIGTERM');
  const exit = await first.proc.ended();
  const exitedAt = performance.now();
  ctx.out.from('demo', `the old process ended (${describeExit(exit)})`);
  ctx.out.phase('starting the new process', () => l);
  const second = naiveServer(ctx, port);
  show(ctx, 'server', second.proc);
  await second.serving;
  const servingAt = performance.now();
  ctx.out.phase('the new process serves', () => l);
  await sleep(AFTER_MS);
  const loadEnd = at(performance.now());
  await l.stop();
  ctx.out.endPhase();
  second.proc.signal('SIGTERM');
  await second.proc.ended();
  return {
    ...measured('restart', l),
    method: 'naive',
    title: 'naive: stop, then start',
    marks: [
      { at: at(stop), label: 'SIGTERM' },
      { at: at(exitedAt), label: 'old exited' },
      { at: at(servingAt), label: 'new listens' },
    ],
    endAt: loadEnd,
    took: `refused connections for ${Math.round(servingAt - stop)} ms: from SIGTERM until the new process listened`,
    problems: exit.code === 0 ? [] : [`the old process ended with ${describeExit(exit)}`],
  };
}

/** lameduck's restart: the keeper holds the socket; SIGHUP starts a new worker, then drains the old one. */
export async function keeperRestartRun(ctx: RunContext, keeper: Server): Promise<RunResult> {
  try {
    ctx.out.phase('starting the keeper');
    show(ctx, 'worker', keeper.proc);
    const port = await keeper.serving;
    const l = new Load(loadOptions(port, 'retry'));
    await loadUpToTheEvent(ctx, l, keeper.proc);
    const at = (t: number) => t - l.startedAt;
    const hup = performance.now();
    ctx.out.phase('reload: the new worker boots', () => l);
    ctx.out.from('demo', 'SIGHUP to the keeper (what `lameduck reload` sends)');
    keeper.proc.signal('SIGHUP');
    const outcome = await keeper.proc.waitFor(/"msg":"(reload done|reload rolled back[^"]*)"/);
    const doneAt = performance.now();
    ctx.out.phase('the old worker drains', () => l);
    await keeper.proc.waitFor(/"msg":"generation drained"/);
    const drainedAt = performance.now();
    ctx.out.phase('the new worker serves', () => l);
    await sleep(AFTER_MS);
    const loadEnd = at(performance.now());
    await l.stop();
    ctx.out.phase('load stopped; stopping the keeper');
    keeper.proc.signal('SIGTERM');
    const exit = await keeper.proc.ended();
    ctx.out.endPhase();
    const problems: string[] = [];
    if (outcome[1] !== 'reload done') problems.push(`the keeper logged "${outcome[1]}"`);
    if (exit.code !== 0) problems.push(`the keeper ended with ${describeExit(exit)}`);
    return {
      ...measured('restart', l),
      method: 'lameduck',
      title: 'lameduck: the keeper reloads on SIGHUP',
      marks: [
        { at: at(hup), label: 'SIGHUP' },
        { at: at(doneAt), label: 'new serves' },
        { at: at(drainedAt), label: 'old drained' },
      ],
      endAt: loadEnd,
      took: `the new worker took over ${Math.round(doneAt - hup)} ms after SIGHUP; the socket never closed`,
      problems,
    };
  } finally {
    keeper.cleanup();
  }
}
