import { ErrorCodes, LameduckError } from './errors.js';
import { createLameduck, type Lameduck } from './lifecycle.js';
import type { LameduckOptions } from './types.js';

/**
 * The options every framework adapter takes: the core options, or a lifecycle to share, plus health
 * routes. Adapters extend it as `<Export>Options`.
 */
export interface AdapterOptions extends LameduckOptions {
  /**
   * Use this lifecycle instead of creating one, to drain several apps or servers together. Core
   * options cannot be given alongside it: they belong to whoever created it.
   */
  lameduck?: Lameduck;
  /** Answer readiness probes at this path (200 while ready, 503 from the first moment of shutdown). */
  readinessPath?: string;
  /** Answer liveness probes at this path (200 until the shutdown is over). */
  livenessPath?: string;
}

export interface ResolvedAdapterOptions {
  lameduck: Lameduck;
  readinessPath: string | undefined;
  livenessPath: string | undefined;
}

function checkPath(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new LameduckError(
      ErrorCodes.OPTIONS_INVALID,
      `Option "${name}" must be a path starting with "/", got ${JSON.stringify(value) ?? String(value)}.`,
    );
  }
  return value;
}

/**
 * Validates an adapter's options and returns its lifecycle (shared or new) and health paths. For
 * adapter authors: one call keeps every framework's options and errors identical.
 *
 * @param defaults core options the framework supplies (Fastify's logger), which the user's override
 * @param ignore option names the framework itself reads (Fastify's `prefix`) and lameduck must not see
 * @example
 * export function graceful(options: GracefulOptions = {}) {
 *   const { lameduck, readinessPath, livenessPath } = resolveAdapterOptions(options);
 *   // …
 * }
 */
export function resolveAdapterOptions(
  options: AdapterOptions,
  defaults: LameduckOptions = {},
  ignore: ReadonlySet<string> = new Set(),
): ResolvedAdapterOptions {
  const { lameduck: shared, readinessPath, livenessPath, ...rest } = options;
  const core = Object.fromEntries(
    Object.entries(rest).filter(([key]) => !ignore.has(key)),
  ) as LameduckOptions;
  const resolved = {
    readinessPath: checkPath('readinessPath', readinessPath),
    livenessPath: checkPath('livenessPath', livenessPath),
  };
  if (shared !== undefined) {
    if (Object.keys(core).length > 0) {
      throw new LameduckError(
        ErrorCodes.OPTIONS_INVALID,
        `Option "lameduck" cannot be combined with core options (${Object.keys(core).join(', ')}); set them where the shared lifecycle is created.`,
      );
    }
    return { lameduck: shared, ...resolved };
  }
  return { lameduck: createLameduck({ ...defaults, ...core }), ...resolved };
}
