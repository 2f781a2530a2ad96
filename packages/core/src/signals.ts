import { constants } from 'node:os';

/**
 * Process-wide state shared by every lifecycle that owns signals. It lives on `globalThis` under a
 * registered symbol so that the ESM and CommonJS copies of this package share it, and it is the only
 * process-global state of the package besides the per-server owner mark (servers.ts):
 * - the exit bookkeeping: with several such lifecycles the process exits when the last one is done
 *   (not when the first is), with the worst exit code;
 * - one process listener per signal, whatever the number of lifecycles, dispatching to each of them in
 *   the order they were created (fifty apps built in one test process add no listeners to `process`
 *   and no MaxListenersExceededWarning).
 */
interface ProcessSignals {
  pending: Set<object>;
  worst: number;
  exit: ((code: number) => void) | undefined;
  dispatchers: Map<NodeJS.Signals, Dispatcher>;
}

interface Dispatcher {
  listener: (signal: NodeJS.Signals) => void;
  targets: Set<(signal: NodeJS.Signals) => void>;
}

const key = Symbol.for('lameduck.processSignals.v2');

function processSignals(): ProcessSignals {
  const g = globalThis as unknown as Record<symbol, ProcessSignals | undefined>;
  g[key] ??= { pending: new Set(), worst: 0, exit: undefined, dispatchers: new Map() };
  return g[key];
}

function listen(
  state: ProcessSignals,
  signal: NodeJS.Signals,
  target: (signal: NodeJS.Signals) => void,
): void {
  let d = state.dispatchers.get(signal);
  if (d === undefined) {
    const targets = new Set<(signal: NodeJS.Signals) => void>();
    d = {
      targets,
      listener: (received) => {
        for (const t of [...targets]) t(received);
      },
    };
    state.dispatchers.set(signal, d);
    process.on(signal, d.listener);
  }
  d.targets.add(target);
}

function unlisten(
  state: ProcessSignals,
  signal: NodeJS.Signals,
  target: (signal: NodeJS.Signals) => void,
): void {
  const d = state.dispatchers.get(signal);
  if (d === undefined || !d.targets.delete(target) || d.targets.size > 0) return;
  process.removeListener(signal, d.listener);
  state.dispatchers.delete(signal);
}

/**
 * Calls `fn` on every `signal` the process receives, through the one process listener per signal;
 * returns the function that stops it. For signals other than the shutdown ones (bindRestart's SIGHUP).
 */
export function onProcessSignal(signal: NodeJS.Signals, fn: () => void): () => void {
  const state = processSignals();
  const target = () => fn();
  listen(state, signal, target);
  return () => unlisten(state, signal, target);
}

/**
 * Ends the process. The only place the library calls `process.exit`: every caller reaches it through a
 * lifecycle that owns the signals with `exit` on, or through an explicit `exit: true`.
 */
export function exitProcess(code: number): void {
  process.exit(code);
}

/** 128 + the signal number: the code a shell reports for a process killed by that signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export interface SignalBinding {
  /** Removes the listeners and leaves the exit bookkeeping; safe to call twice. */
  remove(): void;
  /**
   * This lifecycle's shutdown is over. When no other signal-owning lifecycle is still shutting down,
   * the process exits with the worst code, provided any of them wanted to exit (`exit` given).
   */
  finished(exitCode: number, exit: ((code: number) => void) | undefined): void;
  readonly received: NodeJS.Signals | undefined;
}

/**
 * Listens for these signals (through the one process listener per signal). The first signal calls `onFirst`; any later one calls `onSecond`
 * (the escape hatch when a drain hangs).
 */
export function installSignals(
  id: object,
  signals: readonly NodeJS.Signals[],
  onFirst: (signal: NodeJS.Signals) => void,
  onSecond: (signal: NodeJS.Signals) => void,
): SignalBinding {
  let received: NodeJS.Signals | undefined;
  let installed = true;
  const handler = (signal: NodeJS.Signals) => {
    if (received === undefined) {
      received = signal;
      onFirst(signal);
    } else {
      onSecond(signal);
    }
  };
  const c = processSignals();
  for (const s of signals) listen(c, s, handler);
  c.pending.add(id);
  return {
    get received() {
      return received;
    },
    remove() {
      if (!installed) return;
      installed = false;
      for (const s of signals) unlisten(c, s, handler);
      c.pending.delete(id);
    },
    finished(exitCode, exit) {
      c.worst = Math.max(c.worst, exitCode);
      c.exit ??= exit;
      this.remove();
      if (c.pending.size > 0) return;
      const { worst, exit: exitNow } = c;
      c.worst = 0;
      c.exit = undefined;
      exitNow?.(worst);
    },
  };
}
