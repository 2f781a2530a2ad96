import { once } from 'node:events';
import http from 'node:http';
import Router from '@koa/router';
import { closeServer, listen, RawConnection } from '@lameduck/conformance';
import { createLameduck, Lameduck, type LameduckOptions } from '@lameduck/core';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type GracefulOptions, graceful } from '../src/index.js';

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

  it('serves no health routes unless asked, and answers them when asked', async () => {
    const plain = graceful(quiet);
    cleanups.push(() => plain.lameduck.dispose());
    const app = new Koa();
    app.use(plain);
    await request(app.callback()).get('/readyz').expect(404);

    const health = graceful({ ...quiet, readinessPath: '/ready', livenessPath: '/live' });
    cleanups.push(() => health.lameduck.dispose());
    const app2 = new Koa();
    app2.use(health);
    await request(app2.callback())
      .get('/ready')
      .expect('Content-Type', /json/)
      .expect(200, '{"status":"ready"}');
    await request(app2.callback()).get('/live').expect(200, '{"status":"alive"}');
  });

  it('fails readiness and closes every response while the shutdown is held before the drain', async () => {
    const lifecycle = graceful({ ...quiet, readinessPath: '/readyz', livenessPath: '/livez' });
    cleanups.push(() => lifecycle.lameduck.dispose());
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
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    lifecycle.lameduck.onShutdown('hold', () => held, { phase: 'beforeDrain', timeout: 60_000 });
    await get('/').expect('Connection', 'keep-alive').expect(200, 'hello');
    await get('/readyz').expect('Connection', 'keep-alive').expect(200, '{"status":"ready"}');

    const report = lifecycle.lameduck.shutdown();
    await get('/readyz').expect('Connection', 'close').expect(503, '{"status":"draining"}');
    await get('/livez').expect('Connection', 'close').expect(200, '{"status":"alive"}');
    await get('/').expect('Connection', 'close').expect(200, 'hello');
    release();
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

  it("reports each shutdown hook's outcome", async () => {
    const lifecycle = graceful(quiet);
    cleanups.push(() => lifecycle.lameduck.dispose());
    const done: string[] = [];
    lifecycle.lameduck.onShutdown('queue', () => void done.push('queue'), { phase: 'beforeDrain' });
    lifecycle.lameduck.onShutdown('db', async () => void done.push('db'));
    lifecycle.lameduck.onShutdown('cache', () => {
      throw new Error('cache unreachable');
    });
    const report = await lifecycle.lameduck.shutdown('test');
    expect(done).toEqual(['queue', 'db']);
    expect(report.hooks).toEqual([
      { name: 'queue', phase: 'beforeDrain', outcome: 'ok', durationMs: expect.any(Number) },
      { name: 'db', phase: 'afterDrain', outcome: 'ok', durationMs: expect.any(Number) },
      {
        name: 'cache',
        phase: 'afterDrain',
        outcome: 'error',
        error: 'cache unreachable',
        durationMs: expect.any(Number),
      },
    ]);
    expect(report.exitCode).toBe(1);
  });

  it('builds 50 apps with graceful() in one process: one listener per signal, no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
    };
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const sigterm = process.listenerCount('SIGTERM');
    const sigint = process.listenerCount('SIGINT');
    const built: { app: Koa3; lifecycle: ReturnType<typeof graceful> }[] = [];
    for (let i = 0; i < 50; i++) {
      // The default options, signals included: every lifecycle owns SIGTERM and SIGINT.
      const lifecycle = graceful({ logger: false, readinessPath: '/readyz' });
      cleanups.push(() => lifecycle.lameduck.dispose());
      const app = new Koa();
      app.use(lifecycle);
      app.use((ctx) => {
        ctx.body = `app ${i}`;
      });
      built.push({ app, lifecycle });
    }
    expect(process.listenerCount('SIGTERM')).toBeLessThanOrEqual(sigterm + 1);
    expect(process.listenerCount('SIGINT')).toBeLessThanOrEqual(sigint + 1);
    for (const [i, { app }] of built.entries()) {
      await request(app.callback()).get('/').expect(200, `app ${i}`);
      await request(app.callback()).get('/readyz').expect(200);
    }
    // process.emitWarning() emits on a later tick; the requests above took many.
    expect(warnings).toEqual([]);
    for (const { lifecycle } of built) lifecycle.lameduck.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(sigterm);
    expect(process.listenerCount('SIGINT')).toBe(sigint);
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
  const shared = createLameduck(quiet);
  afterAll(() => shared.dispose());
  // [what, options, fragments of the message: the option, the value given, what is allowed]
  const bad: [string, unknown, string[]][] = [
    [
      'core options next to a shared lifecycle',
      { lameduck: shared, drainDelay: 1000 },
      ['Option "lameduck" cannot be combined with core options (drainDelay)'],
    ],
    [
      'a readiness path without a slash',
      { ...quiet, readinessPath: 'readyz' },
      ['Option "readinessPath" must be a path starting with "/"', 'got "readyz"'],
    ],
    ['a liveness path that is a number', { ...quiet, livenessPath: 42 }, ['Option "livenessPath"', 'got 42']],
    [
      'a health path with a query string',
      { ...quiet, readinessPath: '/readyz?x=1' },
      ['Option "readinessPath"', 'without a query string', 'got "/readyz?x=1"'],
    ],
    [
      'one path for both probes',
      { ...quiet, readinessPath: '/health', livenessPath: '/health' },
      ['"readinessPath" and "livenessPath" are both "/health"'],
    ],
    [
      'a lameduck that is not a lifecycle',
      { lameduck: {} },
      ['Option "lameduck" must be a lifecycle made by createLameduck(), got {}'],
    ],
    ['a lameduck that is null', { lameduck: null }, ['Option "lameduck"', 'got null']],
    [
      'a misspelt signal',
      { ...quiet, signals: ['SIGTREM'] },
      ['Option "signals" lists "SIGTREM"', 'not a signal name'],
    ],
    [
      'a signal node reserves',
      { ...quiet, signals: ['SIGUSR1'] },
      ['Option "signals" lists "SIGUSR1"', 'inspector'],
    ],
    ['a bad core option', { ...quiet, timeout: '10s' }, ['Option "timeout"', 'got "10s"']],
    [
      'an unknown option, listing every option graceful() takes',
      { ...quiet, timeOut: 5 },
      ['Unknown option "timeOut"', 'lameduck', 'livenessPath', 'readinessPath', 'timeout'],
    ],
    ['options that are not an object', 'fast', ['takes an object of options or nothing, got "fast"']],
  ];
  for (const [what, options, fragments] of bad) {
    it(`rejects ${what}`, () => {
      let error: unknown;
      try {
        graceful(options as GracefulOptions);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'LAMEDUCK_ERR_OPTIONS_INVALID' });
      for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
    });
  }

  it('takes false for "no health route"', () => {
    const lifecycle = graceful({ ...quiet, readinessPath: false, livenessPath: false });
    lifecycle.lameduck.dispose();
  });
});
