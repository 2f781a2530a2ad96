import { ErrorCodes, LameduckError } from './errors.js';
import type { LameduckLogger, LameduckOptions } from './types.js';

export interface ResolvedOptions {
  timeout: number;
  drainDelay: number;
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

const known = new Set<string>([...Object.keys(defaults), 'logger']);

// Signals that cannot be caught, or that node uses itself, would make `signals` a silent no-op.
const uncatchable = new Set(['SIGKILL', 'SIGSTOP']);

function invalid(message: string): LameduckError {
  return new LameduckError(ErrorCodes.OPTIONS_INVALID, message);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Milliseconds: a finite, non-negative number that setTimeout can hold (2^31 - 1). */
export function checkMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2_147_483_647) {
    throw invalid(
      `Option "${name}" must be a number of milliseconds from 0 to 2147483647, got ${show(value)}.`,
    );
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw invalid(`Option "${name}" must be true or false, got ${show(value)}.`);
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
      `Option "logger" must be false or an object with info, warn and error methods (pino's shape), got ${show(value)}.`,
    );
  }
  return value as LameduckLogger;
}

function checkSignals(value: unknown): readonly NodeJS.Signals[] {
  if (value === false) return [];
  if (!Array.isArray(value)) {
    throw invalid(
      `Option "signals" must be false or an array of signal names such as "SIGTERM", got ${show(value)}.`,
    );
  }
  for (const s of value) {
    if (typeof s !== 'string' || !/^SIG[A-Z0-9]+$/.test(s) || uncatchable.has(s)) {
      throw invalid(
        `Option "signals" must list catchable signal names such as "SIGTERM" or "SIGINT", got ${show(s)}.`,
      );
    }
  }
  return [...new Set(value as NodeJS.Signals[])];
}

/** Validates every option at construction, so a typo fails at start-up and not during a deploy. */
export function resolveOptions(options: LameduckOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`Options must be an object, got ${show(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw invalid(`Unknown option "${key}"; the options are ${[...known].sort().join(', ')}.`);
    }
  }
  const o = options as Record<string, unknown>;
  const pick = <K extends keyof typeof defaults>(key: K): unknown =>
    o[key] === undefined ? defaults[key] : o[key];

  const lateRequests = pick('lateRequests');
  if (lateRequests !== 'reject' && lateRequests !== 'serve') {
    throw invalid(`Option "lateRequests" must be "reject" or "serve", got ${show(lateRequests)}.`);
  }
  const retryAfter = pick('retryAfter');
  if (
    retryAfter !== false &&
    (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0 || retryAfter > 86_400)
  ) {
    throw invalid(
      `Option "retryAfter" must be false or a whole number of seconds from 0 to 86400, got ${show(retryAfter)}.`,
    );
  }

  return {
    timeout: checkMs('timeout', pick('timeout')),
    drainDelay: checkMs('drainDelay', pick('drainDelay')),
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
