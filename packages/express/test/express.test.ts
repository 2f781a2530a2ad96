import { once } from 'node:events';
import http from 'node:http';
import { Lameduck, type LameduckOptions } from '@lameduck/core';
import { cleanupAfterEach, deferred, urlOf } from '@lameduck/testkit';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { graceful } from '../src/index.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

describe.each([
  ['express 5', express5],
  ['express 4', express4],
])('%s', (_name, express) => {
  const cleanup = cleanupAfterEach();

  /** Serves `app` on 127.0.0.1, attached to `lameduck`; resolves with its URL. */
  async function serve(app: http.RequestListener, lameduck: Lameduck): Promise<string> {
    const server = http.createServer(app);
    lameduck.attach(server);
    await cleanup.listen(server);
    return urlOf(server);
  }

  /** An app with a router, a sub-app and an error handler, each counting the requests it sees. */
  function buildApp(options: LameduckOptions) {
    const lifecycle = graceful({ ...quiet, ...options });
    cleanup(() => lifecycle.lameduck.dispose());
    const seen: string[] = [];
    const released = deferred();
    const entered = deferred();
    const app = express();
    app.use(lifecycle);
    app.use((req, _res, next) => {
      seen.push(`app ${req.path}`);
      next();
    });
    const router = express.Router();
    router.get('/item', (_req, res) => {
      res.send('item');
    });
    app.use('/router', router);
    const sub = express();
    sub.get('/fail', async (_req, _res, next) => {
      entered.resolve();
      await released.promise;
      next(new Error('boom'));
    });
    sub.get('/ok', (_req, res) => {
      res.send('sub');
    });
    app.use('/sub', sub);
    app.use((err: Error, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      seen.push(`error ${err.message}`);
      res.status(500).send('handled');
    });
    return { lifecycle, app, seen, release: released.resolve, entered: entered.promise };
  }

  it('is a named middleware carrying its lifecycle', () => {
    const lifecycle = graceful(quiet);
    cleanup(() => lifecycle.lameduck.dispose());
    expect(lifecycle.name).toBe('lameduckMiddleware');
    expect(lifecycle.lameduck).toBeInstanceOf(Lameduck);
  });

  it('stops the whole chain for a late request: no middleware, router, sub-app or error handler runs', async () => {
    const { lifecycle, app, seen } = buildApp({ idleGrace: 10_000 });
    const url = await serve(app, lifecycle.lameduck);
    const paths = ['/router/item', '/sub/ok', '/missing'];
    const conns = await Promise.all(paths.map(() => cleanup.connect(url)));
    for (const [i, conn] of conns.entries()) {
      conn.get(paths[i] as string);
      expect((await conn.response()).status).toBe(i === 2 ? 404 : 200);
    }
    expect(seen).toHaveLength(3);
    const drained = once(lifecycle.lameduck, 'drain');
    const report = lifecycle.lameduck.shutdown();
    await drained;
    for (const [i, conn] of conns.entries()) {
      conn.get(paths[i] as string);
      const res = await conn.response();
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(seen).toHaveLength(3);
    expect((await report).requests.rejected).toBe(3);
  });

  it('lets an in-flight sub-app request end in the error handler, with Connection: close', async () => {
    const { lifecycle, app, seen, release, entered } = buildApp({});
    // Attached explicitly: supertest listens on it for the request, and the lifecycle drains it.
    const server = http.createServer(app);
    lifecycle.lameduck.attach(server);
    const response = request(server)
      .get('/sub/fail')
      .set('Connection', 'keep-alive')
      .then((res) => res);
    await entered;
    const drained = once(lifecycle.lameduck, 'drain');
    const report = lifecycle.lameduck.shutdown();
    await drained;
    release();
    const res = await response;
    expect(res).toMatchObject({ status: 500, text: 'handled' });
    expect(res.headers.connection).toBe('close');
    expect(seen).toEqual(['app /sub/fail', 'error boom']);
    expect(await report).toMatchObject({ servers: 1, requests: { completed: 1 } });
  });

  it('answers the health routes under the path the middleware is mounted at', async () => {
    const health = graceful({ ...quiet, readinessPath: '/ready', livenessPath: '/live' });
    cleanup(() => health.lameduck.dispose());
    const app = express();
    app.use('/internal', health);
    await request(app)
      .get('/internal/ready')
      .expect('Content-Type', /json/)
      .expect(200, '{"status":"ready"}');
    await request(app).get('/internal/live').expect(200, '{"status":"alive"}');
    await request(app).get('/ready').expect(404);
  });

  it('fails readiness and closes every response while the shutdown is held before the drain', async () => {
    const lifecycle = graceful({ ...quiet, readinessPath: '/readyz', livenessPath: '/livez' });
    cleanup(() => lifecycle.lameduck.dispose());
    const app = express();
    app.use(lifecycle);
    app.get('/', (_req, res) => {
      res.send('hello');
    });
    const server = http.createServer(app);
    lifecycle.lameduck.attach(server);
    // superagent asks for Connection: close unless told otherwise, which would hide lameduck's.
    const get = (path: string) => request(server).get(path).set('Connection', 'keep-alive');
    // A before-drain hook holds the shutdown where a drain delay would, without a timer.
    const held = deferred();
    lifecycle.lameduck.onShutdown('hold', () => held.promise, { phase: 'beforeDrain', timeout: 60_000 });
    await get('/').expect('Connection', 'keep-alive').expect(200, 'hello');
    await get('/readyz').expect('Connection', 'keep-alive').expect(200, '{"status":"ready"}');

    const report = lifecycle.lameduck.shutdown();
    await get('/readyz').expect('Connection', 'close').expect(503, '{"status":"draining"}');
    await get('/livez').expect('Connection', 'close').expect(200, '{"status":"alive"}');
    await get('/').expect('Connection', 'close').expect(200, 'hello');
    held.resolve();
    expect(await report).toMatchObject({ exitCode: 0, servers: 1, requests: { completed: 3, rejected: 0 } });
  });

  it('answers 503 with Retry-After once shutdown() is over; no middleware, route or error handler runs', async () => {
    const { lifecycle, app, seen } = buildApp({ retryAfter: 5 });
    await request(app).get('/router/item').expect(200, 'item');
    expect(seen).toEqual(['app /router/item']);
    await lifecycle.lameduck.shutdown();
    for (const path of ['/router/item', '/sub/ok', '/missing']) {
      await request(app).get(path).expect('Retry-After', '5').expect('Connection', 'close').expect(503);
    }
    expect(seen).toEqual(['app /router/item']);
  });
});
