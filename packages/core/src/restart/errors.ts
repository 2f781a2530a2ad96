import { type ErrorCode, LameduckError } from '../errors.js';

/** The codes socket hand-over and restart throw: the `LISTEN_*` and `RESTART_*` entries of `ErrorCodes`. */
type RestartErrorCode = Extract<
  ErrorCode,
  `LAMEDUCK_ERR_LISTEN_${string}` | `LAMEDUCK_ERR_RESTART_${string}`
>;

export function restartError(code: RestartErrorCode, message: string, cause?: unknown): LameduckError {
  return new LameduckError(code, message, cause === undefined ? undefined : { cause });
}
