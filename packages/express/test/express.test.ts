import { once } from 'node:events';
import http from 'node:http';
import { closeServer, listen, RawConnection } from '@lameduck/conformance';
import { createLameduck, Lameduck, type LameduckOptions } from '@lameduck/core';
import express5 from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { graceful } from '../src/index.js';

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
  it('rejects core options next to a shared lifecycle', () => {
    const lameduck = createLameduck(quiet);
    try {
      expect(() => graceful({ lameduck, timeout: 1000 })).toThrow(
        expect.objectContaining({
          code: 'LAMEDUCK_ERR_OPTIONS_INVALID',
          message: expect.stringContaining('timeout'),
        }),
      );
    } finally {
      lameduck.dispose();
    }
  });

  it('rejects a health path that does not start with a slash', () => {
    expect(() => graceful({ ...quiet, readinessPath: 'readyz' })).toThrow(
      expect.objectContaining({
        code: 'LAMEDUCK_ERR_OPTIONS_INVALID',
        message: expect.stringContaining('readinessPath'),
      }),
    );
  });

  it('passes unknown options to the core, which rejects them', () => {
    expect(() => graceful({ ...quiet, timeOut: 5 } as LameduckOptions)).toThrow(
      expect.objectContaining({ code: 'LAMEDUCK_ERR_OPTIONS_INVALID' }),
    );
  });
});
