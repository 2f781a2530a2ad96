/**
 * Stable error codes. Match on `error.code`, not on `instanceof`: an application can load the ESM and
 * the CommonJS build of this package side by side, and each has its own class.
 */
export const ErrorCodes = {
  /** An option has the wrong type or is out of range. */
  OPTIONS_INVALID: 'LAMEDUCK_ERR_OPTIONS_INVALID',
  /** `attach()` was given something that is not a node http, https or http2 server. */
  ATTACH_NOT_A_SERVER: 'LAMEDUCK_ERR_ATTACH_NOT_A_SERVER',
  /** `attach()` was given a server another lifecycle attached explicitly. */
  ATTACH_OWNED: 'LAMEDUCK_ERR_ATTACH_OWNED',
  /** `handle()` was given something that is not a request listener function. */
  HANDLE_NOT_A_LISTENER: 'LAMEDUCK_ERR_HANDLE_NOT_A_LISTENER',
  /** A hook was registered with a bad name, function or options. */
  HOOK_INVALID: 'LAMEDUCK_ERR_HOOK_INVALID',
  /** A hook name was registered twice. */
  HOOK_DUPLICATE: 'LAMEDUCK_ERR_HOOK_DUPLICATE',
  /** A hook was registered after the shutdown had started. */
  HOOK_LATE: 'LAMEDUCK_ERR_HOOK_LATE',
  /** A hook did not settle before its timeout (the reason of its AbortSignal, and its report entry). */
  HOOK_TIMEOUT: 'LAMEDUCK_ERR_HOOK_TIMEOUT',
  /** The shutdown started (the reason of `shutdownSignal`). */
  SHUTDOWN: 'LAMEDUCK_ERR_SHUTDOWN',
  /** The drain deadline passed while the request was in flight (the reason of the request's AbortSignal). */
  DRAIN_DEADLINE: 'LAMEDUCK_ERR_DRAIN_DEADLINE',
  /**
   * A set-up method (`attach()`, `onShutdown()`, `handle()`, `shutdown()`) was called on a disposed
   * lifecycle; also the reason of a request's AbortSignal first asked for after `dispose()`.
   */
  DISPOSED: 'LAMEDUCK_ERR_DISPOSED',
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
  /** The new process speaks another version of the control protocol (another release of the package). */
  RESTART_PROTOCOL_MISMATCH: 'LAMEDUCK_ERR_RESTART_PROTOCOL_MISMATCH',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * The one error class of lameduck. Its `code` is stable across versions; its message is one sentence
 * that names the bad value and says what is allowed.
 *
 * @example
 * try { createLameduck({ timeout: -1 }) } catch (err) {
 *   if (err.code === 'LAMEDUCK_ERR_OPTIONS_INVALID') logger.error(err, 'bad lameduck options')
 * }
 */
export class LameduckError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LameduckError';
    this.code = code;
  }
}

/** True for any lameduck error, from either build of the package. */
export function isLameduckError(value: unknown): value is LameduckError {
  if (!(value instanceof Error)) return false;
  const code: unknown = (value as Error & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('LAMEDUCK_ERR_');
}
