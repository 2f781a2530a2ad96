import { type ErrorCode, LameduckError } from '../errors.js';

/**
 * Error codes of socket hand-over and restart. They follow the `LAMEDUCK_ERR_<AREA>_<WHAT>` scheme of
 * `ErrorCodes`; until they join that table, they are cast to its type here and nowhere else.
 */
export const RestartErrorCodes = {
  /** `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES` or `LAMEDUCK_CONTROL_FD` is malformed. */
  LISTEN_ENV_INVALID: 'LAMEDUCK_ERR_LISTEN_ENV_INVALID',
  /** An inherited descriptor is not an open stream socket. */
  LISTEN_FD_INVALID: 'LAMEDUCK_ERR_LISTEN_FD_INVALID',
  /** `listen()` was given something that is not a port, an address, a path or a name. */
  LISTEN_TARGET_INVALID: 'LAMEDUCK_ERR_LISTEN_TARGET_INVALID',
  /** Under a keeper, no handed-over socket matches what `listen()` asked for. */
  LISTEN_NOT_INHERITED: 'LAMEDUCK_ERR_LISTEN_NOT_INHERITED',
  /** The server could not listen (the cause is node's error). */
  LISTEN_FAILED: 'LAMEDUCK_ERR_LISTEN_FAILED',
  /** `restart()` options are invalid. */
  RESTART_OPTIONS_INVALID: 'LAMEDUCK_ERR_RESTART_OPTIONS_INVALID',
  /** A restart is already running. */
  RESTART_BUSY: 'LAMEDUCK_ERR_RESTART_BUSY',
  /** The lifecycle is draining (or drained): there is nothing left to hand over. */
  RESTART_DRAINING: 'LAMEDUCK_ERR_RESTART_DRAINING',
  /** Self-upgrade cannot run here (Windows, under a keeper, before adoption, or no socket to hand over). */
  RESTART_UNSUPPORTED: 'LAMEDUCK_ERR_RESTART_UNSUPPORTED',
  /** The new process could not be started. */
  RESTART_SPAWN_FAILED: 'LAMEDUCK_ERR_RESTART_SPAWN_FAILED',
  /** The new process exited before it was ready, or within the settle time after it. */
  RESTART_CHILD_EXITED: 'LAMEDUCK_ERR_RESTART_CHILD_EXITED',
  /** The new process did not report ready within the ready timeout. */
  RESTART_READY_TIMEOUT: 'LAMEDUCK_ERR_RESTART_READY_TIMEOUT',
} as const;

export type RestartErrorCode = (typeof RestartErrorCodes)[keyof typeof RestartErrorCodes];

export function restartError(code: RestartErrorCode, message: string, cause?: unknown): LameduckError {
  return new LameduckError(
    code as unknown as ErrorCode,
    message,
    cause === undefined ? undefined : { cause },
  );
}
