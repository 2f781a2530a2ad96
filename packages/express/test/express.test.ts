import { once } from 'node:events';
import http from 'node:http';
import { closeServer, listen, RawConnection } from '@lameduck/conformance';
import { createLameduck, Lameduck, type LameduckOptions } from '@lameduck/core';
import express5 from 'express';
import express4 from 'express4';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type GracefulOptions, graceful } from '../src/index.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

describe.each([
  ['express 5', express5],
  ['express 4', express4],
])('%s', (_name, express) => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serve(app: http.RequestListener, lameduck: Lameduck): Promise<string> {
    const server = http.createServer(app);
    lameduck.attach(server);
    cleanups.push(() => closeServer(server));
    return listen(server);
  }

  async function connect(url: string): Promise<RawConnection> {
    const conn = await RawConnection.open(url);
    cleanups.push(() => conn.destroy());
    return conn;
  }

  /** An app with a router, a sub-app and an error handler, each counting the requests it sees. */
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
      enter();
      await released;
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
    return { lifecycle, app, seen, release, entered };
  }

  it('is a named middleware carrying its lifecycle', () => {
    const lifecycle = graceful(quiet);
    cleanups.push(() => lifecycle.lameduck.dispose());
    expect(lifecycle.name).toBe('lameduckMiddleware');
    expect(lifecycle.lameduck).toBeInstanceOf(Lameduck);
  });

  it('stops the whole chain for a late request: no middleware, router, sub-app or error handler runs', async () => {
    const { lifecycle, app, seen } = buildApp({ idleGrace: 10_000 });
    const url = await serve(app, lifecycle.lameduck);
    const paths = ['/router/item', '/sub/ok', '/missing'];
    const conns = await Promise.all(paths.map(() => connect(url)));
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
    const url = await serve(app, lifecycle.lameduck);
    const conn = await connect(url);
    conn.get('/sub/fail');
    await entered;
    const drained = once(lifecycle.lameduck, 'drain');
    const report = lifecycle.lameduck.shutdown();
    await drained;
    release();
    const res = await conn.response();
    expect(res).toMatchObject({ status: 500, body: 'handled' });
    expect(res.headers.connection).toBe('close');
    expect(seen).toEqual(['app /sub/fail', 'error boom']);
    expect((await report).requests.completed).toBe(1);
  });

  it('serves no health routes unless asked, and mounts them where given', async () => {
    const plain = graceful(quiet);
    cleanups.push(() => plain.lameduck.dispose());
    const app = express();
    app.use(plain);
    const url = await serve(app, plain.lameduck);
    const conn = await connect(url);
    conn.get('/readyz');
    expect((await conn.response()).status).toBe(404);

    const health = graceful({ ...quiet, readinessPath: '/ready', livenessPath: '/live' });
    cleanups.push(() => health.lameduck.dispose());
    const app2 = express();
    app2.use('/internal', health);
    const url2 = await serve(app2, health.lameduck);
    const conn2 = await connect(url2);
    conn2.get('/internal/ready');
    expect(await conn2.response()).toMatchObject({ status: 200, body: '{"status":"ready"}' });
    conn2.get('/internal/live');
    expect(await conn2.response()).toMatchObject({ status: 200, body: '{"status":"alive"}' });
  });

  it('shares one lifecycle across two apps and drains both servers', async () => {
    const lameduck = createLameduck(quiet);
    cleanups.push(() => lameduck.dispose());
    const urls: string[] = [];
    for (const body of ['one', 'two']) {
      const lifecycle = graceful({ lameduck });
      expect(lifecycle.lameduck).toBe(lameduck);
      const app = express();
      app.use(lifecycle);
      app.get('/', (_req, res) => {
        res.send(body);
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
      { lameduck: shared, timeout: 1000 },
      ['Option "lameduck" cannot be combined with core options (timeout)'],
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
