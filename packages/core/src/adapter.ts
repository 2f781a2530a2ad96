import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeValue } from './describe-value.js';
import { healthOptionNames, resolveHealthPaths } from './health-options.js';
import { createLameduck, Lameduck } from './lifecycle.js';
import { checkKnownKeys, coreOptionNames, invalid, isOptionsObject } from './options.js';
import type { AnyServer, LameduckOptions } from './types.js';

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
  /**
   * Answer readiness probes at this path (200 while ready, 503 from the first moment of shutdown).
   * Omitted or `false`: no route.
   */
  readinessPath?: string | false;
  /** Answer liveness probes at this path (200 until the shutdown is over). Omitted or `false`: no route. */
  livenessPath?: string | false;
}

export interface ResolvedAdapterOptions {
  lameduck: Lameduck;
  readinessPath: string | undefined;
  livenessPath: string | undefined;
}

/** What the adapters call on a lifecycle; a shared one must have all of it. */
const lifecycleMethods = [
  'gate',
  'attach',
  'onShutdown',
  'shutdown',
  'readiness',
  'liveness',
  'signalFor',
  'on',
  'off',
] as const;

/**
 * The first adapter-used method `value` lacks, or undefined for a lifecycle. A lifecycle from the other
 * build (ESM next to CommonJS) is an instance of a different class, so `instanceof` alone would refuse a
 * real one; the methods are what the adapters rely on.
 */
function missingMethod(value: object): string | undefined {
  if (value instanceof Lameduck) return undefined;
  const v = value as Record<string, unknown>;
  return lifecycleMethods.find((method) => typeof v[method] !== 'function');
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
  if (options === undefined) options = {};
  if (!isOptionsObject(options as unknown)) {
    throw invalid(`The adapter takes an object of options or nothing, got ${describeValue(options)}.`);
  }
  // Checked here, not left to the core: its message would list only the core options.
  checkKnownKeys(options, [...coreOptionNames, 'lameduck', ...healthOptionNames, ...ignore], 'option');
  const { lameduck: shared, readinessPath, livenessPath, ...rest } = options;
  const core = Object.fromEntries(
    Object.entries(rest).filter(([key]) => !ignore.has(key)),
  ) as LameduckOptions;
  const resolved = resolveHealthPaths(readinessPath, livenessPath);
  if (shared !== undefined) {
    // Refused here, at construction: otherwise every request would answer 500 from a missing method.
    const missing = typeof shared === 'object' && shared !== null ? missingMethod(shared) : 'gate';
    if (missing !== undefined) {
      const lacks = typeof shared === 'object' && shared !== null ? ` (it has no ${missing}() method)` : '';
      throw invalid(
        `Option "lameduck" must be a lifecycle made by createLameduck(), got ${describeValue(shared)}${lacks}.`,
      );
    }
    if (Object.keys(core).length > 0) {
      throw invalid(
        `Option "lameduck" cannot be combined with core options (${Object.keys(core).join(', ')}); set them where the shared lifecycle is created.`,
      );
    }
    return { lameduck: shared, ...resolved };
  }
  return { lameduck: createLameduck({ ...defaults, ...core }), ...resolved };
}

/**
 * Puts the gate in front of the server's 'request' listeners once the shutdown begins: for a framework
 * whose own per-request hook would cost every request of the service's life (Fastify's `onRequest`).
 * While the state is `ready` the gate has nothing to answer, so nothing runs per request until then.
 * Listeners added after the shutdown began are not gated.
 *
 * @example
 * gateFromShutdown(lameduck, fastify.server);
 */
export function gateFromShutdown(lameduck: Lameduck, server: AnyServer): void {
  const install = () => {
    const listeners = server.listeners('request') as ((req: unknown, res: unknown) => void)[];
    server.removeAllListeners('request');
    server.on('request', function gated(this: AnyServer, req: IncomingMessage, res: ServerResponse) {
      if (lameduck.gate(req, res)) return;
      for (const listener of listeners) listener.call(this, req, res);
    });
  };
  if (lameduck.state === 'ready') lameduck.once('shutdown', install);
  else install();
}
