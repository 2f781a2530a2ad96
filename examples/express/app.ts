import type { Lameduck } from '@lameduck/core';
import { graceful } from '@lameduck/express';
import express from 'express';

export interface Apps {
  /** The public app: `GET /` answers at once, `GET /slow` after `slowMs` (the ten-second hello). */
  app: express.Express;
  /** The admin app, on a port of its own: `/readyz`, `/livez` and `/metrics`. */
  admin: express.Express;
  /** Requests served per path since start-up: the cache the shutdown hook flushes. */
  hits: Map<string, number>;
  /** Answers every slow request that is waiting, now. */
  finishSlowRequests(): void;
}

/**
 * Builds both apps around one lifecycle (no listening here: server.ts listens, and a test could build
 * the apps alone). One lifecycle for both ports means one SIGTERM drains both, one deadline bounds
 * both, and the hooks run once, after the last request on either port.
 */
export function buildApps(lameduck: Lameduck, slowMs: number): Apps {
  const hits = new Map<string, number>();
  const waiting = new Set<() => void>();

  const app = express();
  // First, before any body parser or router: during the drain it answers late requests with 503 itself
  // and nothing after it runs for them.
  app.use(graceful({ lameduck }));
  app.use((req, _res, next) => {
    hits.set(req.path, (hits.get(req.path) ?? 0) + 1);
    next();
  });
  app.get('/', (_req, res) => {
    res.type('text').send('hello\n');
  });
  app.get('/slow', (req, res) => {
    const answer = (status: number, text: string) => {
      if (!waiting.delete(finish)) return;
      clearTimeout(timer);
      res.status(status).type('text').send(text);
    };
    const finish = () => answer(200, 'hello\n');
    const timer = setTimeout(finish, slowMs);
    waiting.add(finish);
    // At the drain deadline lameduck aborts this signal: answer now rather than be cut off.
    lameduck.signalFor(req).addEventListener('abort', () => answer(503, 'aborted at the drain deadline\n'));
    process.stdout.write(`slow request started (${slowMs} ms)\n`);
  });

  const admin = express();
  // The same lifecycle, plus the probes: readiness turns 503 at the first moment of the shutdown, so the
  // load balancer stops sending new work while the slow request finishes; liveness stays 200, so the
  // orchestrator does not kill a process that is draining as it should.
  admin.use(graceful({ lameduck, readinessPath: '/readyz', livenessPath: '/livez' }));
  admin.get('/metrics', (_req, res) => {
    res.json({ state: lameduck.state, inFlight: lameduck.inFlight, hits: Object.fromEntries(hits) });
  });

  return {
    app,
    admin,
    hits,
    finishSlowRequests: () => {
      for (const finish of [...waiting]) finish();
    },
  };
}
