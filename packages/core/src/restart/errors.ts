import { ErrorCodes, LameduckError } from '../errors.js';

/** The error codes of socket hand-over and restart: the `LISTEN_*` and `RESTART_*` entries of `ErrorCodes`. */
export const RestartErrorCodes = {
  LISTEN_ENV_INVALID: ErrorCodes.LISTEN_ENV_INVALID,
  LISTEN_FD_INVALID: ErrorCodes.LISTEN_FD_INVALID,
  LISTEN_TARGET_INVALID: ErrorCodes.LISTEN_TARGET_INVALID,
  LISTEN_NOT_INHERITED: ErrorCodes.LISTEN_NOT_INHERITED,
  LISTEN_FAILED: ErrorCodes.LISTEN_FAILED,
  RESTART_OPTIONS_INVALID: ErrorCodes.RESTART_OPTIONS_INVALID,
  RESTART_BUSY: ErrorCodes.RESTART_BUSY,
  RESTART_DRAINING: ErrorCodes.RESTART_DRAINING,
  RESTART_UNSUPPORTED: ErrorCodes.RESTART_UNSUPPORTED,
  RESTART_SPAWN_FAILED: ErrorCodes.RESTART_SPAWN_FAILED,
  RESTART_CHILD_EXITED: ErrorCodes.RESTART_CHILD_EXITED,
  RESTART_READY_TIMEOUT: ErrorCodes.RESTART_READY_TIMEOUT,
} as const;

export type RestartErrorCode = (typeof RestartErrorCodes)[keyof typeof RestartErrorCodes];

export function restartError(code: RestartErrorCode, message: string, cause?: unknown): LameduckError {
  return new LameduckError(code, message, cause === undefined ? undefined : { cause });
}
