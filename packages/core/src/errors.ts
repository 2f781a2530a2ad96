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
  /** The lifecycle was disposed while the request was in flight (the reason of its AbortSignal). */
  DISPOSED: 'LAMEDUCK_ERR_DISPOSED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * The one error class of lameduck. Its `code` is stable across versions; its message is one sentence
 * that names the bad value and says what is allowed.
 *
 * @example
 * try { createLameduck({ timeout: -1 }) } catch (err) {
 *   if (err.code === 'LAMEDUCK_ERR_OPTIONS_INVALID') console.error(err.message)
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
