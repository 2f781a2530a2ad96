import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AdapterOptions, type Lameduck, resolveAdapterOptions } from '@lameduck/core';

/**
 * Options of {@link graceful}: the core options, or a lifecycle to share, plus health routes.
 *
 * @example
 * const options: GracefulOptions = { drainDelay: 5000, readinessPath: '/readyz', livenessPath: '/livez' };
 * app.use(graceful(options));
 */
export interface GracefulOptions extends AdapterOptions {}

/**
 * The Koa context as far as lameduck reads it; works with Koa 2 and 3 without their types. Koa's own
 * `Context` satisfies it.
 *
 * @example
 * app.use(async (ctx, next) => {
 *   const like: KoaContextLike = ctx; // Koa's context is assignable
 *   await next();
 * });
 */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  respond?: boolean;
  /** Koa's error handler for this request; lameduck keeps `Connection: close` through it. */
  onerror?: (err: unknown) => void;
  /** The Koa application, whose `context` is the prototype of every `ctx`. */
  app?: { context?: object };
}

/** Marks an error handler that keeps `Connection: close` on answers of the drain. */
const keepsClose = Symbol('lameduck.keepsClose');
type OnError = ((this: unknown, err: unknown) => void) & { [keepsClose]?: true };

/**
 * Koa's error handler removes every header before answering an error, `Connection: close` included,
 * and an error answered during the drain must still close its connection (RFC 9112 §9.6). The app's
 * handler is wrapped once, on its context prototype, on the first request; after that a request costs
 * one property check (an app that replaces its handler later gets it wrapped again), and no promise.
 */
function keepCloseOnError(ctx: KoaContextLike, lameduck: Lameduck): void {
  const owner = (ctx.app?.context ?? ctx) as { onerror?: OnError };
  const original = owner.onerror;
  if (typeof original !== 'function' || original[keepsClose]) return;
  const wrapped: OnError = function (this: unknown, err: unknown) {
    if (!lameduck.isReady && typeof err === 'object' && err !== null) {
      const e = err as { headers?: Record<string, string> };
      e.headers = { ...e.headers, Connection: 'close' };
    }
    return original.call(this, err);
  };
  wrapped[keepsClose] = true;
  owner.onerror = wrapped;
}

/**
 * The middleware returned by {@link graceful}, with its lifecycle attached.
 *
 * @example
 * const lifecycle: GracefulMiddleware = graceful();
 * app.use(lifecycle);
 * lifecycle.lameduck.on('report', (report) => logger.info(report, 'shutdown report'));
 */
export interface GracefulMiddleware {
  (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void>;
  /** The lifecycle: hooks (`onShutdown`), `shutdown()`, `signalFor(ctx.req)`, health handlers and events. */
  readonly lameduck: Lameduck;
}

/**
 * Graceful shutdown for Koa 2 and 3. Put it first, before body parsers and routers: during the drain
 * it ends the chain for requests lameduck answered itself (503 with `Retry-After`) and sets
 * `ctx.respond = false` so Koa leaves that answer alone. With nothing else written, SIGTERM and
 * SIGINT drain the server `app.listen()` created and exit.
 *
 * @example
 * import Koa from 'koa';
 * import { graceful } from '@lameduck/koa';
 *
 * const app = new Koa();
 * const lifecycle = graceful({ drainDelay: 5000, readinessPath: '/readyz' });
 * app.use(lifecycle);
 * app.use((ctx) => { ctx.body = 'hello'; });
 * lifecycle.lameduck.onShutdown('db', () => pool.end());
 * app.listen(8080);
 */
export function graceful(options: GracefulOptions = {}): GracefulMiddleware {
  const { lameduck, readinessPath, livenessPath } = resolveAdapterOptions(options);

  // Without probe routes the middleware reads nothing of the request while serving.
  const probes = readinessPath !== undefined || livenessPath !== undefined;
  const done = Promise.resolve();
  // Not an async function: it returns the chain's own promise, with no promise of its own.
  const middleware = function lameduckMiddleware(
    ctx: KoaContextLike,
    next: () => Promise<unknown>,
  ): Promise<void> {
    if ((ctx.onerror as OnError | undefined)?.[keepsClose] !== true) keepCloseOnError(ctx, lameduck);
    // lameduck answered (or must drop) this request: stop the chain and keep Koa from writing.
    if (lameduck.gate(ctx.req, ctx.res)) {
      ctx.respond = false;
      return done;
    }
    if (probes) {
      const path = ctx.path;
      if (path === readinessPath || path === livenessPath) {
        ctx.respond = false;
        if (path === readinessPath) lameduck.readiness(ctx.req, ctx.res);
        else lameduck.liveness(ctx.req, ctx.res);
        return done;
      }
    }
    return next() as Promise<void>;
  };
  return Object.defineProperty(middleware, 'lameduck', {
    value: lameduck,
    enumerable: true,
  }) as GracefulMiddleware;
}
