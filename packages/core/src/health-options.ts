import { describeValue } from './describe-value.js';
import { checkKnownKeys, invalid, isOptionsObject } from './options.js';

/** The health routes of `handle()` and of every adapter, validated; `undefined` is "no route". */
export interface HealthPaths {
  readinessPath: string | undefined;
  livenessPath: string | undefined;
}

export const healthOptionNames: readonly string[] = ['readinessPath', 'livenessPath'];

/**
 * A health path is matched against the request path exactly (`pathOf(req.url)` in `handle()`,
 * `req.path` in Express, `ctx.path` in Koa, a route in Fastify). None of those ever starts without a
 * "/" or holds a query string or fragment, so such a value would never match: the probe would hit the
 * app instead, and a load balancer would keep routing to a draining process.
 */
function checkPath(name: string, value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    throw invalid(
      `Option "${name}" must be a path starting with "/" without a query string, or false for no route, got ${describeValue(value)}.`,
    );
  }
  return value;
}

/** Validates the two health-route options; one function for `handle()` and the adapters alike. */
export function resolveHealthPaths(readinessPath: unknown, livenessPath: unknown): HealthPaths {
  const paths = {
    readinessPath: checkPath('readinessPath', readinessPath),
    livenessPath: checkPath('livenessPath', livenessPath),
  };
  // Readiness is matched first, so liveness would never be answered.
  if (paths.readinessPath !== undefined && paths.readinessPath === paths.livenessPath) {
    throw invalid(
      `Options "readinessPath" and "livenessPath" are both ${describeValue(paths.readinessPath)}; give each probe its own path.`,
    );
  }
  return paths;
}

/** The options object of `handle()`: only the health routes. */
export function resolveHandleOptions(options: unknown): HealthPaths {
  if (options === undefined) return { readinessPath: undefined, livenessPath: undefined };
  if (!isOptionsObject(options)) {
    throw invalid(
      `handle() takes an object of options (readinessPath, livenessPath) or nothing as its second argument, got ${describeValue(options)}.`,
    );
  }
  checkKnownKeys(options, healthOptionNames, 'handle() option');
  return resolveHealthPaths(options.readinessPath, options.livenessPath);
}
