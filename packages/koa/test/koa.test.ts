import { once } from 'node:events';
import http from 'node:http';
import Router from '@koa/router';
import { closeServer, listen, RawConnection } from '@lameduck/conformance';
import { createLameduck, Lameduck, type LameduckOptions } from '@lameduck/core';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterEach, describe, expect, it } from 'vitest';
import { graceful } from '../src/index.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2],
])('%s', (_name, Koa) => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serve(app: Koa3, lameduck: Lameduck): Promise<string> {
    const server = http.createServer(app.callback());
    lameduck.attach(server);
    cleanups.push(() => closeServer(server));
    return listen(server);
  }

  async function connect(url: string): Promise<RawConnection> {
    const conn = await RawConnection.open(url);
    cleanups.push(() => conn.destroy());
    return conn;
  }

  /** An app with a logger middleware and a @koa/router router, counting what runs. */
  function buildApp(options: LameduckOptions) {
    const lifecycle = graceful({ ...quiet, ...options });
    cleanups.push(() => lifecycle.lameduck.dispose());
    const seen: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
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
      enter();
      await released;
      throw Object.assign(new Error('boom'), { status: 502, expose: true });
    });
    app.use(router.routes());
    return { lifecycle, app, seen, release, entered };
  }

  it('is a named middleware carrying its lifecycle', () => {
    const lifecycle = graceful(quiet);
    cleanups.push(() => lifecycle.lameduck.dispose());
    expect(lifecycle.name).toBe('lameduckMiddleware');
    expect(lifecycle.lameduck).toBeInstanceOf(Lameduck);
  });

  it('stops the chain for a late request and leaves the 503 alone', async () => {
    const { lifecycle, app, seen } = buildApp({ idleGrace: 10_000, retryAfter: 3 });
    const url = await serve(app, lifecycle.lameduck);
    const paths = ['/item', '/missing'];
    const conns = await Promise.all(paths.map(() => connect(url)));
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
    const conn = await connect(url);
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

  it('serves no health routes unless asked', async () => {
    const lifecycle = graceful(quiet);
    cleanups.push(() => lifecycle.lameduck.dispose());
    const app = new Koa();
    app.use(lifecycle);
    const conn = await connect(await serve(app, lifecycle.lameduck));
    conn.get('/readyz');
    expect((await conn.response()).status).toBe(404);
  });

  it('shares one lifecycle across two apps and drains both servers', async () => {
    const lameduck = createLameduck(quiet);
    cleanups.push(() => lameduck.dispose());
    const urls: string[] = [];
    for (const body of ['one', 'two']) {
      const lifecycle = graceful({ lameduck });
      expect(lifecycle.lameduck).toBe(lameduck);
      const app = new Koa();
      app.use(lifecycle);
      app.use((ctx) => {
        ctx.body = body;
      });
      urls.push(await serve(app, lameduck));
    }
    const conns = await Promise.all(urls.map((url) => connect(url)));
    for (const conn of conns) {
      conn.get('/');
      expect((await conn.response()).status).toBe(200);
    }
    const r = await lameduck.shutdown();
    expect(r).toMatchObject({ servers: 2, exitCode: 0 });
    expect(r.sockets.closedIdle).toBe(2);
  });
});

describe('graceful() options', () => {
  it('rejects core options next to a shared lifecycle', () => {
    const lameduck = createLameduck(quiet);
    try {
      expect(() => graceful({ lameduck, drainDelay: 10 })).toThrow(
        expect.objectContaining({
          code: 'LAMEDUCK_ERR_OPTIONS_INVALID',
          message: expect.stringContaining('drainDelay'),
        }),
      );
    } finally {
      lameduck.dispose();
    }
  });

  it('rejects a health path that does not start with a slash', () => {
    expect(() => graceful({ ...quiet, livenessPath: 42 as unknown as string })).toThrow(
      expect.objectContaining({
        code: 'LAMEDUCK_ERR_OPTIONS_INVALID',
        message: expect.stringContaining('livenessPath'),
      }),
    );
  });
});
