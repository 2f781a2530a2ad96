import { constants } from 'node:os';
import { describeValue } from './describe-value.js';
import { type ErrorCode, ErrorCodes, LameduckError } from './errors.js';
import type { LameduckLogger, LameduckOptions } from './types.js';

export interface ResolvedOptions {
  timeout: number;
  /** The drain delay's length, or its longest with `drainQuiet`. */
  drainDelay: number;
  /** The adaptive drain delay's `quiet`: it ends once no request has arrived for this long. */
  drainQuiet: number | undefined;
  idleGrace: number;
  lateRequests: 'reject' | 'serve';
  retryAfter: number | false;
  signals: readonly NodeJS.Signals[];
  exit: boolean;
  hookTimeout: number;
  logger: LameduckLogger | false | undefined;
  discover: boolean;
}

export const defaults = {
  timeout: 20_000,
  drainDelay: 0,
  idleGrace: 250,
  lateRequests: 'reject',
  retryAfter: 1,
  signals: ['SIGTERM', 'SIGINT'],
  exit: true,
  hookTimeout: 5_000,
  discover: true,
} as const satisfies Partial<ResolvedOptions>;

/** The names `createLameduck()` accepts; adapters add their own to this list in their messages. */
export const coreOptionNames: readonly string[] = [...Object.keys(defaults), 'logger'];
const known = new Set(coreOptionNames);

/**
 * Signals that exist but that a lifecycle must not listen for, each with the reason its message gives;
 * on any of them the drain would never start, or would start when nobody asked for one:
 * - SIGKILL and SIGSTOP cannot be caught at all (node's `process` docs, "Signal events"; signal(7)).
 * - SIGUSR1 starts node's inspector; a listener interferes with it (same docs).
 * - SIGBUS, SIGFPE, SIGSEGV and SIGILL, when real, leave the process where JS listeners are unsafe: node
 *   may hang in a loop instead of dying (same docs, nodejs/node#8410; libuv's uv_signal_t notes).
 * - SIGPROF is what V8's sampling profiler sends the process: under `--cpu-prof` a listener fires on
 *   every sample, so profiling the service would shut it down.
 * SIGVTALRM stays allowed: neither node's nor libuv's docs reserve it.
 */
const refusedSignals: Readonly<Record<string, string>> = {
  SIGKILL: 'which cannot be caught: the kernel ends the process without running any listener',
  SIGSTOP: 'which cannot be caught: the kernel suspends the process without running any listener',
  SIGUSR1: 'which node reserves to start the inspector (debugger)',
  SIGBUS: 'which, when real, leaves the process where node cannot safely run a listener',
  SIGFPE: 'which, when real, leaves the process where node cannot safely run a listener',
  SIGSEGV: 'which, when real, leaves the process where node cannot safely run a listener',
  SIGILL: 'which, when real, leaves the process where node cannot safely run a listener',
  SIGPROF: "which V8's CPU profiler (--cpu-prof) sends on every sample",
};

export function invalid(message: string, code: ErrorCode = ErrorCodes.OPTIONS_INVALID): LameduckError {
  return new LameduckError(code, message);
}

/** True for an object that can hold options: not null, an array or a function. */
export function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Throws at the first key not in `names`. A misspelt key would otherwise be ignored and its option
 * silently left at the default, which is found out during a deploy.
 *
 * @param what how the message names an option: `option`, `handle() option`, …
 * @param where appended after the key, to say whose option it is
 */
export function checkKnownKeys(
  options: object,
  names: Iterable<string>,
  what: string,
  code: ErrorCode = ErrorCodes.OPTIONS_INVALID,
  where = '',
): void {
  const allowed = new Set(names);
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) {
      throw invalid(
        `Unknown ${what} ${JSON.stringify(key)}${where}; the options are ${alphabetical(allowed).join(', ')}.`,
        code,
      );
    }
  }
}

/** Case-insensitive, so that `logger` and `logLevel` sit together in a message. */
function alphabetical(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Milliseconds: a finite, non-negative number that setTimeout can hold (2^31 - 1). */
export function isMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 2_147_483_647;
}

function checkMs(name: string, value: unknown): number {
  if (!isMs(value)) {
    throw invalid(
      `Option "${name}" must be a number of milliseconds from 0 to 2147483647, got ${describeValue(value)}.`,
    );
  }
  return value;
}

/** A number of ms (fixed), or `{ max, quiet }` (adaptive). */
function checkDrainDelay(value: unknown): { max: number; quiet: number | undefined } {
  if (!isOptionsObject(value)) {
    if (!isMs(value)) {
      throw invalid(
        `Option "drainDelay" must be a number of milliseconds from 0 to 2147483647, or { max, quiet } for a delay that ends when requests stop arriving, got ${describeValue(value)}.`,
      );
    }
    return { max: value, quiet: undefined };
  }
  checkKnownKeys(value, ['max', 'quiet'], 'key', ErrorCodes.OPTIONS_INVALID, ' in option "drainDelay"');
  const { max, quiet } = value;
  if (!isMs(max)) {
    throw invalid(
      `Option "drainDelay.max" must be a number of milliseconds from 0 to 2147483647, got ${describeValue(max)}.`,
    );
  }
  if (!isMs(quiet) || quiet < 1 || quiet > max) {
    throw invalid(
      `Option "drainDelay.quiet" must be a number of milliseconds from 1 to drainDelay.max (${max}), got ${describeValue(quiet)}.`,
    );
  }
  return { max, quiet };
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw invalid(`Option "${name}" must be true or false, got ${describeValue(value)}.`);
  return value;
}

function checkLogger(value: unknown): LameduckLogger | false | undefined {
  if (value === undefined || value === false) return value;
  const l = value as Record<string, unknown>;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof l.info !== 'function' ||
    typeof l.warn !== 'function' ||
    typeof l.error !== 'function'
  ) {
    throw invalid(
      `Option "logger" must be false or an object with info, warn and error methods (pino's shape), got ${describeValue(value)}.`,
    );
  }
  return value as LameduckLogger;
}

function checkSignals(value: unknown): readonly NodeJS.Signals[] {
  if (value === false) return [];
  if (!Array.isArray(value)) {
    throw invalid(
      `Option "signals" must be false or an array of signal names such as ["SIGTERM", "SIGINT"], got ${describeValue(value)}.`,
    );
  }
  const instead = 'use signals such as "SIGTERM", "SIGINT" or "SIGHUP"';
  for (const s of value as unknown[]) {
    // A name node does not know ("SIGTREM") would make process.on() listen for an event that never
    // comes, and SIGTERM would then kill the process undrained.
    if (typeof s !== 'string' || !Object.hasOwn(constants.signals, s)) {
      throw invalid(
        `Option "signals" lists ${describeValue(s)}, which is not a signal name on this platform (${process.platform}); ${instead}.`,
      );
    }
    const reason = refusedSignals[s];
    if (reason !== undefined) {
      throw invalid(`Option "signals" lists "${s}", ${reason}; ${instead}.`);
    }
  }
  return [...new Set(value as NodeJS.Signals[])];
}

/** Validates every option at construction, so a typo fails at start-up and not during a deploy. */
export function resolveOptions(options: LameduckOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isOptionsObject(options)) {
    throw invalid(`createLameduck() takes an object of options or nothing, got ${describeValue(options)}.`);
  }
  checkKnownKeys(options, known, 'option');
  const o = options as Record<string, unknown>;
  const pick = <K extends keyof typeof defaults>(key: K): unknown =>
    o[key] === undefined ? defaults[key] : o[key];

  const lateRequests = pick('lateRequests');
  if (lateRequests !== 'reject' && lateRequests !== 'serve') {
    throw invalid(`Option "lateRequests" must be "reject" or "serve", got ${describeValue(lateRequests)}.`);
  }
  const retryAfter = pick('retryAfter');
  if (
    retryAfter !== false &&
    (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0 || retryAfter > 86_400)
  ) {
    throw invalid(
      `Option "retryAfter" must be false or a whole number of seconds from 0 to 86400, got ${describeValue(retryAfter)}.`,
    );
  }

  const delay = checkDrainDelay(pick('drainDelay'));
  return {
    timeout: checkMs('timeout', pick('timeout')),
    drainDelay: delay.max,
    drainQuiet: delay.quiet,
    idleGrace: checkMs('idleGrace', pick('idleGrace')),
    lateRequests,
    retryAfter,
    signals: checkSignals(pick('signals')),
    exit: checkBoolean('exit', pick('exit')),
    hookTimeout: checkMs('hookTimeout', pick('hookTimeout')),
    logger: checkLogger(o.logger),
    discover: checkBoolean('discover', pick('discover')),
  };
}
