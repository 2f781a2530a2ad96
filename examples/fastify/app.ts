import type { Lameduck } from '@lameduck/core';
import { gracefulPlugin } from '@lameduck/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

export interface Apps {
  /** The public instance: `GET /` answers at once, `GET /slow` after `slowMs` (the ten-second hello). */
  app: FastifyInstance;
  /** The admin instance, on a port of its own: `/readyz`, `/livez` and `/metrics`. */
  admin: FastifyInstance;
  /** Requests served per route since start-up: the cache the `onClose` hook flushes. */
  hits: Map<string, number>;
  /** Answers every slow request that is waiting, now. */
  finishSlowRequests(): void;
}

/**
 * Builds both instances around one lifecycle (no listening here: server.ts listens). One lifecycle for
 * both ports means one SIGTERM drains both, one deadline bounds both; then the plugin calls
 * `fastify.close()` on each, so their `onClose` hooks run once, after the last request on either port.
 */
export async function buildApps(lameduck: Lameduck, slowMs: number): Promise<Apps> {
  const hits = new Map<string, number>();
  const waiting = new Set<() => void>();

  const app = Fastify();
  // First, so that its gate runs before any hook of ours: during the drain it answers late requests
  // with 503 itself and nothing after it runs for them.
  await app.register(gracefulPlugin, { lameduck });
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? 'unknown';
    hits.set(route, (hits.get(route) ?? 0) + 1);
  });
  app.get('/', async (_request, reply) => reply.type('text/plain').send('hello\n'));
  app.get('/slow', async (request, reply) => {
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
      lameduck.signalFor(request.raw).addEventListener('abort', () => finish(503));
      process.stdout.write(`slow request started (${slowMs} ms)\n`);
    });
    return reply
      .code(status)
      .type('text/plain')
      .send(status === 200 ? 'hello\n' : 'aborted at the drain deadline\n');
  });

  const admin = Fastify();
  // The same lifecycle, plus the probes: readiness turns 503 at the first moment of the shutdown, so the
  // load balancer stops sending new work while the slow request finishes; liveness stays 200, so the
  // orchestrator does not kill a process that is draining as it should.
  await admin.register(gracefulPlugin, { lameduck, readinessPath: '/readyz', livenessPath: '/livez' });
  admin.get('/metrics', async () => ({
    state: lameduck.state,
    inFlight: lameduck.inFlight,
    hits: Object.fromEntries(hits),
  }));

  return {
    app,
    admin,
    hits,
    finishSlowRequests: () => {
      for (const release of [...waiting]) release();
    },
  };
}
