import { once } from 'node:events';
import http from 'node:http';
import Router from '@koa/router';
import { Lameduck, type LameduckOptions } from '@lameduck/core';
import { cleanupAfterEach, deferred, urlOf } from '@lameduck/testkit';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { graceful } from '../src/index.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2],
])('%s', (_name, Koa) => {
  const cleanup = cleanupAfterEach();

  /** Serves `app` on 127.0.0.1, attached to `lameduck`; resolves with its URL. */
  async function serve(app: Koa3, lameduck: Lameduck): Promise<string> {
    const server = http.createServer(app.callback());
    lameduck.attach(server);
    await cleanup.listen(server);
    return urlOf(server);
  }

  /** An app with a logger middleware and a @koa/router router, counting what runs. */
  function buildApp(options: LameduckOptions) {
    const lifecycle = graceful({ ...quiet, ...options });
    cleanup(() => lifecycle.lameduck.dispose());
    const seen: string[] = [];
    const released = deferred();
    const entered = deferred();
    const app = new Koa();
    app.silent = true;
    app.use(lifecycle);
    app.use(async (ctx, next) => {
      seen.push(`app ${ctx.path}`);
      await next();
    });
    const router = new Router();
    router.get('/item', (ctx) => {
      ctx.body = 'item';
    });
    router.get('/fail', async () => {
      entered.resolve();
      await released.promise;
      throw Object.assign(new Error('boom'), { status: 502, expose: true });
    });
    app.use(router.routes());
    return { lifecycle, app, seen, release: released.resolve, entered: entered.promise };
  }

  it('is a named middleware carrying its lifecycle', () => {
    const lifecycle = graceful(quiet);
    cleanup(() => lifecycle.lameduck.dispose());
    expect(lifecycle.name).toBe('lameduckMiddleware');
    expect(lifecycle.lameduck).toBeInstanceOf(Lameduck);
  });

  it('stops the chain for a late request and leaves the 503 alone', async () => {
    const { lifecycle, app, seen } = buildApp({ idleGrace: 10_000, retryAfter: 3 });
    const url = await serve(app, lifecycle.lameduck);
    const paths = ['/item', '/missing'];
    const conns = await Promise.all(paths.map(() => cleanup.connect(url)));
    for (const [i, conn] of conns.entries()) {
      conn.get(paths[i] as string);
      expect((await conn.response()).status).toBe(i === 0 ? 200 : 404);
    }
    expect(seen).toHaveLength(2);
    const drained = once(lifecycle.lameduck, 'drain');
    const report = lifecycle.lameduck.shutdown();
    await drained;
    for (const [i, conn] of conns.entries()) {
      conn.get(paths[i] as string);
      const res = await conn.response();
      expect(res.status).toBe(503);
      expect(res.headers).toMatchObject({ connection: 'close', 'retry-after': '3' });
      expect(JSON.parse(res.body)).toMatchObject({ error: 'Service Unavailable' });
    }
    expect(seen).toHaveLength(2);
    expect((await report).requests.rejected).toBe(2);
  });

  it("keeps Connection: close on an in-flight error answered by Koa's error handler", async () => {
    const { lifecycle, app, seen, release, entered } = buildApp({});
    const url = await serve(app, lifecycle.lameduck);
    const conn = await cleanup.connect(url);
    conn.get('/fail');
    await entered;
    const drained = once(lifecycle.lameduck, 'drain');
    const report = lifecycle.lameduck.shutdown();
    await drained;
    release();
    const res = await conn.response();
    expect(res).toMatchObject({ status: 502, body: 'boom' });
    expect(res.headers.connection).toBe('close');
    expect(await conn.outcome()).toBe('fin');
    expect(seen).toEqual(['app /fail']);
    expect((await report).requests.completed).toBe(1);
  });

  it('fails readiness and closes every response while the shutdown is held before the drain', async () => {
    const lifecycle = graceful({ ...quiet, readinessPath: '/readyz', livenessPath: '/livez' });
    cleanup(() => lifecycle.lameduck.dispose());
    const app = new Koa();
    app.use(lifecycle);
    app.use((ctx) => {
      ctx.body = 'hello';
    });
    const server = http.createServer(app.callback());
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

  it('answers 503 with Retry-After once shutdown() is over; no middleware or route runs', async () => {
    const { lifecycle, app, seen } = buildApp({ retryAfter: 5 });
    await request(app.callback()).get('/item').expect(200, 'item');
    expect(seen).toEqual(['app /item']);
    await lifecycle.lameduck.shutdown();
    for (const path of ['/item', '/missing']) {
      await request(app.callback())
        .get(path)
        .expect('Retry-After', '5')
        .expect('Connection', 'close')
        .expect(503);
    }
    expect(seen).toEqual(['app /item']);
  });
});
