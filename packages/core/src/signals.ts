import { constants } from 'node:os';

/**
 * Process-wide bookkeeping shared by every lifecycle that owns signals, so that with several of them
 * the process exits when the last one is done (not when the first is), with the worst exit code. It
 * lives on `globalThis` under a registered symbol so that the ESM and CommonJS copies share it.
 */
interface ExitCoordinator {
  pending: Set<object>;
  worst: number;
  exit: ((code: number) => void) | undefined;
}

const key = Symbol.for('lameduck.exitCoordinator.v1');

function coordinator(): ExitCoordinator {
  const g = globalThis as unknown as Record<symbol, ExitCoordinator | undefined>;
  g[key] ??= { pending: new Set(), worst: 0, exit: undefined };
  return g[key];
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
 * Installs one listener per signal. The first signal calls `onFirst`; any later one calls `onSecond`
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
  for (const s of signals) process.on(s, handler);
  const c = coordinator();
  c.pending.add(id);
  return {
    get received() {
      return received;
    },
    remove() {
      if (!installed) return;
      installed = false;
      for (const s of signals) process.removeListener(s, handler);
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
