import { exitProcess, installSignals, type SignalBinding, signalExitCode } from './signals.js';
import type { LameduckLogger, ShutdownReport } from './types.js';

/** What a lifecycle's exit policy needs of the lifecycle. */
export interface ExitHost {
  readonly log: LameduckLogger;
  /** A signal asks for the shutdown. */
  shutdown(signal: NodeJS.Signals): void;
  /** A second signal ends the drain: the `forceExit` event. */
  forceExit(event: { signal: NodeJS.Signals; exitCode: number }): void;
  /** Every open HTTP/2 stream is reset, just before the process exits in the middle of the drain. */
  resetStreams(): void;
}

/**
 * When a lifecycle ends the process, and how: the signals it owns (the first starts the shutdown, a
 * second ends the process at once), and the exit once the shutdown's report is out. It calls
 * `process.exit` only through signals.ts, and only when the lifecycle owns the signals with `exit` on,
 * or when a hand-over asks for it explicitly.
 */
export class ExitPolicy {
  readonly #host: ExitHost;
  readonly #exit: boolean;
  readonly #signals: SignalBinding | undefined;
  /** A second signal is ending the process: the drain must not exit it with another code. */
  #forceExiting = false;

  constructor(id: object, signals: readonly NodeJS.Signals[], exit: boolean, host: ExitHost) {
    this.#host = host;
    this.#exit = exit;
    if (signals.length > 0) {
      this.#signals = installSignals(
        id,
        signals,
        (signal) => host.shutdown(signal),
        (signal) => this.#second(signal),
      );
    }
  }

  /** Stops listening for the signals: a later one gets node's default behaviour. */
  release(): void {
    this.#signals?.remove();
  }

  /**
   * A shutdown began. One started by a signal this lifecycle owns exits the process after its report
   * (with `exit` on), through the exit bookkeeping of signals.ts: the process still waits for every
   * other signal-owning lifecycle. One started otherwise releases the signals once it is over.
   */
  shutdownStarted(shutdown: Promise<ShutdownReport>, signal: NodeJS.Signals | undefined): void {
    const signals = this.#signals;
    if (signal === undefined || signals === undefined) {
      void shutdown.then(() => this.release());
      return;
    }
    const exit = this.#exit ? exitProcess : undefined;
    const release = exit === undefined ? undefined : holdProcess();
    void shutdown.then((report) => {
      release?.();
      if (this.#forceExiting) return;
      signals.finished(report.exitCode, exit);
    });
  }

  /**
   * Exit once this shutdown (a hand-over's) is over, when `exit` asks for it or, left undefined, when
   * this lifecycle owns the signals with `exit` on.
   */
  exitAfter(shutdown: Promise<ShutdownReport>, exit: boolean | undefined): void {
    const signals = this.#signals;
    if (!(exit ?? (signals !== undefined && this.#exit))) return;
    const release = holdProcess();
    void shutdown.then((report) => {
      release();
      if (signals !== undefined) signals.finished(report.exitCode, exitProcess);
      else exitProcess(report.exitCode);
    });
  }

  #second(signal: NodeJS.Signals): void {
    const exitCode = signalExitCode(signal);
    this.#host.log.warn({ signal, exitCode }, 'second signal: exiting now without finishing the drain');
    this.#host.forceExit({ signal, exitCode });
    if (!this.#exit) return;
    // Not process.exit() at once: an HTTP/2 stream cut by the exit, on a session that already sent
    // GOAWAY(NO_ERROR), would reach the client as a connection end, which node's client (and others)
    // take for the end of a complete body. Every open stream is reset with CANCEL first, and the exit
    // waits one turn of the loop for those frames to be written.
    this.#forceExiting = true;
    this.#host.resetStreams();
    setImmediate(() => exitProcess(exitCode));
  }
}

/**
 * Keeps the process alive until the returned function is called. Every timer of the drain is unref'd, so
 * that lameduck never holds a process open by itself; but once a shutdown that ends in `process.exit`
 * has begun, the process must live until the report: otherwise a hook that awaits a promise nothing will
 * settle lets the event loop run empty, and node exits 0 with no report and the later hooks never run.
 */
function holdProcess(): () => void {
  // A ref'd handle that never fires (not a poll): the report's own events end the hold.
  const hold = setTimeout(() => {}, 2_147_483_647);
  return () => clearTimeout(hold);
}
