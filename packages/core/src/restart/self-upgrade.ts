import { describeValue } from '../describe-value.js';
import { ErrorCodes } from '../errors.js';
import { silentLogger, stderrLogger } from '../logger.js';
import { onProcessSignal } from '../signals.js';
import type { LameduckLogger, ShutdownReport } from '../types.js';
import { controlClient, signalChild, spawnChild } from './control.js';
import { restartError } from './errors.js';
import type { Handover } from './handover.js';
import { writePidFile } from './handover.js';

export interface RestartOptions {
  /** Milliseconds the new process has to report ready before it is stopped and the restart rolled back. Default 10 000. */
  readyTimeout?: number;
  /**
   * Milliseconds the new process must stay up after reporting ready before this one drains: a process
   * that crashes right after ready is caught while this one still serves. Default 1 000.
   */
  settle?: number;
  /** The command of the new process. Default: this one (`process.execPath`, `execArgv`, `argv`). */
  command?: readonly string[];
  /** Environment of the new process. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * A PID file that the process serving traffic keeps up to date (written atomically, by the new
   * process once it takes over), for systemd's `PIDFile=` and for scripts that signal the server.
   */
  pidFile?: string;
  /**
   * Exit with the shutdown report's exit code once this process has drained. Default: true when the
   * lifecycle owns the signals and its `exit` option is on (the defaults), false otherwise.
   */
  exit?: boolean;
  /** Where restart progress is logged (pino shape); `false` for silence. Default: stderr lines. */
  logger?: LameduckLogger | false;
}

export interface RestartResult {
  /** PID of the process that now serves. */
  pid: number;
  /** Milliseconds from spawn to its ready report. */
  readyMs: number;
  /** This process's drain, started once the new process took over. */
  shutdown: Promise<ShutdownReport>;
}

export interface BindRestartOptions extends RestartOptions {
  /** The signal that starts a restart. Default `'SIGHUP'` (`endless`' choice); `'SIGUSR2'` is the other convention. */
  signal?: 'SIGHUP' | 'SIGUSR2';
}

function checkMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2_147_483_647) {
    throw restartError(
      ErrorCodes.RESTART_OPTIONS_INVALID,
      `Restart option "${name}" must be a number of milliseconds from 0 to 2147483647, got ${describeValue(value)}.`,
    );
  }
  return value;
}

function loggerOf(options: RestartOptions): LameduckLogger {
  return options.logger === false ? silentLogger : (options.logger ?? stderrLogger());
}

/**
 * Self-upgrade: starts the same command with this process's listening sockets (systemd protocol), waits
 * for its ready report, then drains this process and (by default) exits. When the new process crashes,
 * exits within `settle` of its ready, or misses `readyTimeout`, it is stopped and this process keeps
 * serving: the promise rejects with the reason. See {@link Lameduck.restart}.
 */
export async function restart(handover: Handover, options: RestartOptions = {}): Promise<RestartResult> {
  const readyTimeout = checkMs('readyTimeout', options.readyTimeout, 10_000);
  const settle = checkMs('settle', options.settle, 1_000);
  const log = loggerOf(options);
  const state = handover;
  const host = handover.host;
  if (options.pidFile !== undefined) state.pidFile = options.pidFile;
  if (process.platform === 'win32') {
    throw restartError(
      ErrorCodes.RESTART_UNSUPPORTED,
      'restart() needs to pass listening sockets to a child process, which Windows does not support; use a rolling deployment instead.',
    );
  }
  if (host.state !== 'ready') {
    throw restartError(
      ErrorCodes.RESTART_DRAINING,
      `restart() was called while the lifecycle is ${host.state}; a draining process has no sockets left to hand over.`,
    );
  }
  if (state.restarting) {
    throw restartError(
      ErrorCodes.RESTART_BUSY,
      'restart() was called while a restart is already running; wait for it to finish.',
    );
  }
  const client = controlClient();
  if (client?.role === 'keeper') {
    throw restartError(
      ErrorCodes.RESTART_UNSUPPORTED,
      'restart() was called in a process run by the lameduck keeper; reload through the keeper (`lameduck reload` or SIGHUP to the keeper) instead.',
    );
  }
  if (client !== undefined && !client.adopted) {
    throw restartError(
      ErrorCodes.RESTART_UNSUPPORTED,
      'restart() was called before this process took over from its parent; wait until it is serving on its own.',
    );
  }
  const sockets = state.listened.flatMap(({ server, name }) => {
    const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    return server.listening && typeof fd === 'number' && fd >= 0 ? [{ fd, name }] : [];
  });
  if (sockets.length === 0) {
    throw restartError(
      ErrorCodes.RESTART_UNSUPPORTED,
      'restart() found no listening socket to hand over; listen through lameduck.listen() so that it knows them.',
    );
  }

  state.restarting = true;
  try {
    const command = options.command ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
    const started = performance.now();
    const channel = spawnChild({
      command,
      fds: sockets.map((s) => s.fd),
      names: sockets.map((s) => s.name),
      role: 'restart',
      env: options.env ?? process.env,
    });
    const child = channel.child;
    log.info({ pid: child.pid, sockets: sockets.length }, 'restart: started the new process');

    let readyMs = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        let settleTimer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
          reject(
            restartError(
              ErrorCodes.RESTART_READY_TIMEOUT,
              `The new process (pid ${child.pid}) did not report ready within ${readyTimeout} ms; this process keeps serving.`,
            ),
          );
        }, readyTimeout);
        const cleanup = () => {
          clearTimeout(timer);
          clearTimeout(settleTimer);
          child.removeListener('exit', onExit);
          child.removeListener('error', onError);
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
          cleanup();
          const how = signal === null ? `with code ${code}` : `on ${signal}`;
          const when =
            readyMs > 0
              ? `${Math.round(performance.now() - started - readyMs)} ms after ready`
              : 'before ready';
          reject(
            restartError(
              ErrorCodes.RESTART_CHILD_EXITED,
              `The new process (pid ${child.pid}) exited ${how} ${when}; this process keeps serving.`,
            ),
          );
        };
        const onError = (error: Error) => {
          cleanup();
          reject(
            restartError(
              ErrorCodes.RESTART_SPAWN_FAILED,
              `Could not start the new process (${command.join(' ')}): ${error.message}`,
              error,
            ),
          );
        };
        child.once('exit', onExit);
        child.once('error', onError);
        channel.on((message) => {
          if (message.type === 'incompatible' && readyMs === 0) {
            // It would never be ready in a way this process understands: say why now, not at the timeout.
            cleanup();
            reject(
              restartError(
                ErrorCodes.RESTART_PROTOCOL_MISMATCH,
                `${message.message} This process keeps serving.`,
              ),
            );
            return;
          }
          if (message.type !== 'ready' || readyMs > 0) return;
          readyMs = Math.max(1, Math.round(performance.now() - started));
          clearTimeout(timer);
          log.info({ pid: child.pid, readyMs }, 'restart: the new process is ready');
          settleTimer = setTimeout(() => {
            cleanup();
            resolve();
          }, settle);
        });
      });
    } catch (error) {
      signalChild(child, 'SIGTERM');
      // A child that ignores SIGTERM is killed once it had as long as it had to get ready.
      const kill = setTimeout(() => signalChild(child, 'SIGKILL'), Math.max(readyTimeout, 1_000));
      kill.unref();
      const exited = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(kill);
        log.info({ pid: child.pid, code, signal }, 'restart: the rolled-back process exited');
      };
      // A child that crashed is already gone: its 'exit' has passed.
      if (child.exitCode !== null || child.signalCode !== null) exited(child.exitCode, child.signalCode);
      else child.once('exit', exited);
      child.unref();
      const e = error as Error & { code?: string };
      log.error({ code: e.code, pid: child.pid }, `restart rolled back: ${e.message}`);
      throw error;
    }

    channel.send({ type: 'adopt', pidFile: state.pidFile, notify: state.systemd });
    child.unref();
    (
      child.stdio[3 + sockets.length] as (NodeJS.WritableStream & { end(): void; unref?(): void }) | null
    )?.end();
    log.info({ pid: child.pid }, 'restart: the new process took over; draining this one');
    host.serveLateRequests();
    const shutdown = host.shutdown('restart');
    // The library exits only for a lifecycle that owns the signals with `exit` on, unless told otherwise.
    host.exitAfter(shutdown, options.exit);
    return { pid: child.pid ?? 0, readyMs, shutdown };
  } finally {
    state.restarting = false;
  }
}

/**
 * Restarts on a signal (SIGHUP by default). A failed or refused restart is logged and changes nothing.
 * Writes the PID file at once when this process is already serving on its own. Returns the function
 * that removes the binding; binding one signal twice on the same lifecycle is a no-op.
 *
 * @example
 * lameduck.listen(server, { port: 8080 });
 * bindRestart(lameduck, { signal: 'SIGHUP', pidFile: '/run/app.pid' });
 */
export function bindRestart(
  lameduck: { bindRestart(options?: BindRestartOptions): () => void },
  options: BindRestartOptions = {},
): () => void {
  return lameduck.bindRestart(options);
}

/** bindRestart() for one lifecycle's hand-over: see {@link Lameduck.bindRestart}. */
export function bindRestartSignal(handover: Handover, options: BindRestartOptions = {}): () => void {
  const signal = options.signal ?? 'SIGHUP';
  if (signal !== 'SIGHUP' && signal !== 'SIGUSR2') {
    throw restartError(
      ErrorCodes.RESTART_OPTIONS_INVALID,
      `Restart option "signal" must be "SIGHUP" or "SIGUSR2", got ${describeValue(signal)}.`,
    );
  }
  checkMs('readyTimeout', options.readyTimeout, 0);
  checkMs('settle', options.settle, 0);
  if (options.pidFile !== undefined) {
    const pidFile = options.pidFile;
    handover.pidFile = pidFile;
    // Already serving on its own: the file is due now. A child not yet adopted writes it at adoption.
    void handover.readyReported?.then(() => {
      const client = controlClient();
      if (client === undefined || client.adopted) writePidFile(pidFile);
    });
  }
  if (handover.signalBindings.has(signal)) return () => {};
  const log = loggerOf(options);
  const off = onProcessSignal(signal, () => {
    restart(handover, options).catch((error: Error & { code?: string }) => {
      // Rolled back: already logged with the reason by restart().
      const rolledBack = [
        ErrorCodes.RESTART_CHILD_EXITED,
        ErrorCodes.RESTART_READY_TIMEOUT,
        ErrorCodes.RESTART_PROTOCOL_MISMATCH,
      ] as string[];
      if (error.code === undefined || !rolledBack.includes(error.code))
        log.warn({ signal, code: error.code }, `restart refused: ${error.message}`);
    });
  });
  const remove = () => {
    if (handover.signalBindings.get(signal) !== remove) return;
    handover.signalBindings.delete(signal);
    off();
  };
  handover.signalBindings.set(signal, remove);
  return remove;
}
