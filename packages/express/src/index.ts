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

/** The Express request as far as lameduck reads it; works with Express 4 and 5 without their types. */
type Request = IncomingMessage & { path?: string };

/**
 * The middleware returned by {@link graceful}, with its lifecycle attached.
 *
 * @example
 * const lifecycle: GracefulMiddleware = graceful();
 * app.use(lifecycle);
 * lifecycle.lameduck.on('report', (report) => logger.info(report, 'shutdown report'));
 */
export interface GracefulMiddleware {
  (req: Request, res: ServerResponse, next: (err?: unknown) => void): void;
  /** The lifecycle: hooks (`onShutdown`), `shutdown()`, `signalFor(req)`, health handlers and events. */
  readonly lameduck: Lameduck;
}

/**
 * Graceful shutdown for Express 4 and 5. Put it first, before body parsers and routers: during the
 * drain it stops the chain for requests lameduck answered itself (503 with `Retry-After`), so no
 * later middleware, route or error handler runs for them. With nothing else written, SIGTERM and
 * SIGINT drain the server `app.listen()` created and exit.
 *
 * @example
 * import express from 'express';
 * import { graceful } from '@lameduck/express';
 *
 * const app = express();
 * const lifecycle = graceful({ drainDelay: 5000, readinessPath: '/readyz' });
 * app.use(lifecycle);
 * app.get('/', (req, res) => res.send('hello'));
 * lifecycle.lameduck.onShutdown('db', () => pool.end());
 * app.listen(8080);
 */
export function graceful(options: GracefulOptions = {}): GracefulMiddleware {
  const { lameduck, readinessPath, livenessPath } = resolveAdapterOptions(options);
  // Without probe routes the middleware reads nothing of the request while serving.
  const probes = readinessPath !== undefined || livenessPath !== undefined;

  const middleware = function lameduckMiddleware(
    req: Request,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ) {
    // lameduck answered (or must drop) this request: the rest of the chain must not run.
    if (lameduck.gate(req, res)) return;
    if (probes) {
      // `req.path` is relative to where the middleware is mounted, as Express paths are.
      const path = req.path;
      if (path !== undefined && path === readinessPath) return lameduck.readiness(req, res);
      if (path !== undefined && path === livenessPath) return lameduck.liveness(req, res);
    }
    next();
  };
  return Object.defineProperty(middleware, 'lameduck', {
    value: lameduck,
    enumerable: true,
  }) as GracefulMiddleware;
}
