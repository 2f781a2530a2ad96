import type { ConnectionTracker } from './connections.js';
import { ErrorCodes, LameduckError } from './errors.js';
import { type HookRegistry, since } from './hooks.js';
import type { ResolvedOptions } from './options.js';
import { buildReport, reportLogFields } from './report.js';
import type { HookReport, LameduckEvents, LameduckLogger, LameduckState, ShutdownReport } from './types.js';

/**
 * What the shutdown sequence needs of its lifecycle: options, the connection tracker, the hooks, the
 * attached servers' listeners, its state and its events. A narrow view: the sequence knows nothing else
 * of the lifecycle.
 */
export interface ShutdownHost {
  readonly options: ResolvedOptions;
  readonly log: LameduckLogger;
  readonly tracker: ConnectionTracker;
  readonly hooks: HookRegistry;
  /** How many servers are attached. */
  serverCount(): number;
  /** The state moves on (`draining`, `closing`, `closed`), with its event. */
  setState(to: LameduckState): void;
  /** The lifecycle's shutdownSignal aborts with this reason. */
  abortShutdownSignal(reason: LameduckError): void;
  /** From now on every request of an attached server reaches the tracker. */
  trackEveryRequest(): void;
  /** Every attached server stops accepting; `listenersClosed()` turns true once node reports them closed. */
  closeListeners(): void;
  listenersClosed(): boolean;
  /** Destroys every connection node itself still knows of (what the tracker might not have seen). */
  closeAllConnections(): void;
  /** Called on every change of connections or listeners while the sequence waits for them; undefined to stop. */
  watch(onChange: (() => void) | undefined): void;
  emit<K extends keyof LameduckEvents>(event: K, ...args: LameduckEvents[K]): boolean;
}

/**
 * How long the drain waits, after destroying what was left at the deadline, for those connections to
 * report that they closed. Destroyed sockets close within a turn or two of the event loop; this bounds
 * the pathological case (a socket node keeps that lameduck cannot see), so the report always comes, at
 * most `timeout` + FORCE_SETTLE_MS after the start.
 */
const FORCE_SETTLE_MS = 1_000;

/**
 * The shutdown, in the spirit of Go's `http.Server.Shutdown`: fail readiness, serve the drain delay
 * beside the before-drain hooks, close the listeners, wait until every request is answered and every
 * connection closed (from events, without polling) or the deadline passes, then force what is left,
 * run the after-drain hooks and report.
 *
 * What it does not do: exit the process (the caller decides, see signals.ts), close upgraded sockets
 * itself (it hands them to the application through the `upgraded` event, and destroys them at the
 * deadline), or answer late requests (the gate does, for callers that can stop their handler).
 */
export async function runShutdown(
  host: ShutdownHost,
  reason: string,
  signal: NodeJS.Signals | undefined,
): Promise<ShutdownReport> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const { tracker, options } = host;
  const deadline = startDeadline(options.timeout);
  const hookReports: HookReport[] = [];
  const onHook = reportHook(host, hookReports);

  const atStart = failReadiness(host, reason, signal);
  const delayMs = await drainDelay(host, reason, onHook, deadline.reached);

  const drainStart = performance.now();
  closeListeners(host);
  const deadlineReached = (await Promise.race([allClosed(host), deadline.reached])) === 'deadline';
  if (deadlineReached) await forceClose(host);
  deadline.clear();
  host.watch(undefined);
  const drainMs = since(drainStart);

  host.setState('closing');
  const hooksStart = performance.now();
  await host.hooks.run('afterDrain', reason, onHook);
  const hooksMs = since(hooksStart);

  const report = buildReport({
    reason,
    signal,
    startedAt,
    durationMs: since(started),
    phases: { delayMs, drainMs, hooksMs },
    deadlineReached,
    servers: host.serverCount(),
    inFlightAtStart: atStart.inFlight,
    openAtStart: atStart.connections,
    stats: tracker.stats,
    hooks: hookReports,
  });
  host.setState('closed');
  host.log[report.exitCode === 0 ? 'info' : 'warn'](reportLogFields(report), 'shutdown complete');
  host.emit('report', report);
  return report;
}

/**
 * Step 1: readiness fails and, from this first moment, every response closes its connection. Returns
 * what was in flight and open at that moment.
 */
function failReadiness(
  host: ShutdownHost,
  reason: string,
  signal: NodeJS.Signals | undefined,
): { inFlight: number; connections: number } {
  host.tracker.startCounting();
  host.setState('draining');
  host.abortShutdownSignal(new LameduckError(ErrorCodes.SHUTDOWN, `The shutdown started (${reason}).`));
  host.emit('shutdown', signal === undefined ? { reason } : { reason, signal });
  // Even with no drain delay: a response that finishes before the listeners close must not invite the
  // client back. The requests already in flight are taken from their sockets here; every later one
  // arrives through the request channel.
  host.trackEveryRequest();
  host.tracker.enterClosing();
  // Counted once the tracker has taken over the connections node lists: the same figures as before it,
  // without walking node's list of every connection twice more (10 000 sockets: about 45 ms).
  const atStart = { inFlight: host.tracker.inFlight, connections: host.tracker.openConnections };
  host.log.info({ reason, ...atStart, servers: host.serverCount() }, 'shutdown started; readiness now fails');
  return atStart;
}

/** Step 2: keep serving (with `Connection: close`) for `drainDelay`, beside the before-drain hooks. */
async function drainDelay(
  host: ShutdownHost,
  reason: string,
  onHook: (report: HookReport) => void,
  deadline: Promise<'deadline'>,
): Promise<number> {
  const start = performance.now();
  const { drainDelay: ms, drainQuiet: quiet } = host.options;
  let delay: Promise<unknown>;
  if (quiet === undefined) {
    if (ms > 0) host.log.info({ ms }, 'drain delay: serving with Connection: close');
    delay = sleep(ms);
  } else {
    host.log.info(
      { max: ms, quiet },
      'drain delay: serving with Connection: close until no request arrives for `quiet` ms',
    );
    delay = untilQuiet(host.tracker, start, start + ms, quiet).then((wasQuiet) => {
      const fields = { ms: Math.round(since(start)), quiet };
      if (wasQuiet) host.log.info(fields, 'drain delay over: no request arrived for `quiet` ms');
      else
        host.log.info({ ...fields, max: ms }, 'drain delay over: `max` reached with requests still arriving');
    });
  }
  await Promise.race([Promise.all([delay, host.hooks.run('beforeDrain', reason, onHook)]), deadline]);
  return since(start);
}

/**
 * The adaptive drain delay: resolves true once no request has arrived for `quiet` ms, false at `end`
 * (performance.now()'s clock) if requests were still arriving. One timer at a time, re-armed for the
 * moment the quiet window would close: no polling.
 */
function untilQuiet(tracker: ConnectionTracker, start: number, end: number, quiet: number): Promise<boolean> {
  return new Promise((resolve) => {
    const check = () => {
      const quietAt = Math.max(tracker.lastArrival, start) + quiet;
      const at = Math.min(quietAt, end);
      const now = performance.now();
      // A late timer may find both moments passed: the earlier one ended the delay.
      if (now >= at) resolve(quietAt <= end);
      else setTimeout(check, Math.ceil(at - now)).unref();
    };
    check();
  });
}

/** Step 3: stop accepting; reap idle sockets, answer late requests at the gate, GOAWAY HTTP/2. */
function closeListeners(host: ShutdownHost): void {
  const { tracker } = host;
  host.closeListeners();
  tracker.enterDraining();
  const left = { inFlight: tracker.inFlight, sockets: tracker.openConnections };
  host.emit('drain', left);
  host.log.info({ inFlight: left.inFlight, connections: left.sockets }, 'listeners closed; draining');
}

/** Step 4: resolves the moment the last request is answered and the last connection and listener closed. */
function allClosed(host: ShutdownHost): Promise<'done'> {
  return new Promise((resolve) => {
    const check = () => {
      if (host.tracker.idle && host.listenersClosed()) resolve('done');
    };
    host.watch(check);
    check();
  });
}

/** Step 5, at the deadline: abort in-flight requests' signals, then destroy every connection left. */
async function forceClose(host: ShutdownHost): Promise<void> {
  const { tracker, options } = host;
  const left = { inFlight: tracker.inFlight, sockets: tracker.openConnections };
  host.emit('deadline', left);
  host.log.warn(left, 'deadline reached: aborting requests and destroying connections');
  await tracker.force(
    new LameduckError(ErrorCodes.DRAIN_DEADLINE, `The drain deadline of ${options.timeout} ms passed.`),
  );
  host.closeAllConnections();
  const bound = sleep(FORCE_SETTLE_MS).then(() => 'bound' as const);
  if ((await Promise.race([allClosed(host), bound])) === 'bound') {
    host.log.warn(
      { inFlight: tracker.inFlight, sockets: tracker.openConnections, ms: FORCE_SETTLE_MS },
      'connections still open after being destroyed; reporting without them',
    );
  }
}

/** Collects each hook's report, emits it and logs it. */
function reportHook(host: ShutdownHost, reports: HookReport[]): (report: HookReport) => void {
  return (report) => {
    reports.push(report);
    host.emit('hook', report);
    const fields = { hook: report.name, phase: report.phase, ms: report.durationMs, error: report.error };
    if (report.outcome === 'ok') host.log.info(fields, 'hook done');
    else host.log.warn(fields, report.outcome === 'timeout' ? 'hook timed out' : 'hook failed');
  };
}

function startDeadline(ms: number): { reached: Promise<'deadline'>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), ms);
    timer.unref();
  });
  return { reached, clear: () => clearTimeout(timer) };
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
