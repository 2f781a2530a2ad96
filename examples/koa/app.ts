import type { Lameduck } from '@lameduck/core';
import { graceful } from '@lameduck/koa';
import Koa from 'koa';

export interface Apps {
  /** The public app: `GET /` answers at once, `GET /slow` after `slowMs` (the ten-second hello). */
  app: Koa;
  /** The admin app, on a port of its own: `/readyz`, `/livez` and `/metrics`. */
  admin: Koa;
  /** Requests served per path since start-up: the cache the shutdown hook flushes. */
  hits: Map<string, number>;
  /** Answers every slow request that is waiting, now. */
  finishSlowRequests(): void;
}

/**
 * Builds both apps around one lifecycle (no listening here: server.ts listens). One lifecycle for both
 * ports means one SIGTERM drains both, one deadline bounds both, and the hooks run once, after the last
 * request on either port.
 */
export function buildApps(lameduck: Lameduck, slowMs: number): Apps {
  const hits = new Map<string, number>();
  const waiting = new Set<() => void>();

  const app = new Koa();
  // First: during the drain it answers late requests with 503 itself and ends the chain for them.
  app.use(graceful({ lameduck }));
  app.use(async (ctx, next) => {
    hits.set(ctx.path, (hits.get(ctx.path) ?? 0) + 1);
    await next();
  });
  app.use(async (ctx) => {
    if (ctx.method !== 'GET') ctx.throw(405);
    if (ctx.path === '/') {
      ctx.body = 'hello\n';
      return;
    }
    if (ctx.path !== '/slow') ctx.throw(404);
    // Koa answers when the middleware's promise settles: wait for the timer, the release or the deadline.
    const status = await new Promise<number>((resolve) => {
      const finish = (code: number) => {
        if (!waiting.delete(release)) return;
        clearTimeout(timer);
        resolve(code);
      };
      const release = () => finish(200);
      const timer = setTimeout(release, slowMs);
      waiting.add(release);
      // At the drain deadline lameduck aborts this signal: answer now rather than be cut off.
      lameduck.signalFor(ctx.req).addEventListener('abort', () => finish(503));
      process.stdout.write(`slow request started (${slowMs} ms)\n`);
    });
    ctx.status = status;
    ctx.body = status === 200 ? 'hello\n' : 'aborted at the drain deadline\n';
  });

  const admin = new Koa();
  // The same lifecycle, plus the probes: readiness turns 503 at the first moment of the shutdown, so the
  // load balancer stops sending new work while the slow request finishes; liveness stays 200, so the
  // orchestrator does not kill a process that is draining as it should.
  admin.use(graceful({ lameduck, readinessPath: '/readyz', livenessPath: '/livez' }));
  admin.use((ctx) => {
    if (ctx.path !== '/metrics') ctx.throw(404);
    ctx.body = { state: lameduck.state, inFlight: lameduck.inFlight, hits: Object.fromEntries(hits) };
  });

  return {
    app,
    admin,
    hits,
    finishSlowRequests: () => {
      for (const release of [...waiting]) release();
    },
  };
}
