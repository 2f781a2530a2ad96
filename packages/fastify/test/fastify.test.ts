import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnAppWithSlowRequest } from '@lameduck/conformance';
import { createLameduck, type Lameduck, type LameduckOptions } from '@lameduck/core';
import { cleanupAfterEach, closeServer, deferred, fetchOnce, urlOf } from '@lameduck/testkit';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { gracefulPlugin } from '../src/index.js';
import { fastifyFactory } from './factory.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

describe('@lameduck/fastify', () => {
  const cleanup = cleanupAfterEach();

  /** A Fastify app whose close hooks and slow route record the order of events. */
  async function start(serverOptions: FastifyServerOptions = {}, options: LameduckOptions = {}) {
    const order: string[] = [];
    const released = deferred();
    const entered = deferred();
    const fastify = Fastify(serverOptions);
    await fastify.register(gracefulPlugin, { ...quiet, ...options });
    fastify.addHook('preClose', async () => void order.push('preClose'));
    fastify.addHook('onClose', async () => void order.push('onClose'));
    fastify.get('/slow', async () => {
      entered.resolve();
      await released.promise;
      order.push('handler done');
      return 'slow';
    });
    fastify.get('/fast', async () => 'fast');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanup(async () => {
      released.resolve();
      await closeServer(fastify.server);
      await fastify.close();
      fastify.lameduck.dispose();
    });
    const url = await urlOf(fastify.server);
    const connect = () => cleanup.connect(url);
    /** Sends `GET /slow` on a new connection; resolves once the route holds it. */
    const slow = async () => {
      const conn = await connect();
      conn.get('/slow');
      await entered.promise;
      return conn;
    };
    return { fastify, order, release: released.resolve, slow, connect };
  }

  it('closes cleanly when its lifecycle was disposed first (a test cleanup order)', async () => {
    const fastify = Fastify();
    await fastify.register(gracefulPlugin, quiet);
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    fastify.lameduck.dispose();
    await expect(fastify.close()).resolves.toBeUndefined();
  });

  it('registers as @lameduck/fastify and decorates the instance with its lifecycle', async () => {
    const fastify = Fastify();
    await fastify.register(gracefulPlugin, quiet);
    const lameduck: Lameduck = fastify.lameduck;
    expect(fastify.hasPlugin('@lameduck/fastify')).toBe(true);
    expect(lameduck.state).toBe('ready');
    await fastify.close();
    // fastify.close() resolves once Fastify closed; the lifecycle's own after-drain hooks may still run.
    expect(lameduck.state).not.toBe('ready');
    expect((await lameduck.shutdown()).reason).toBe('fastify.close');
    expect(lameduck.state).toBe('closed');
  });

  it('ends a drain started elsewhere in fastify.close(): close hooks run once, after in-flight work, before the report', async () => {
    const { fastify, order, release, slow } = await start();
    const conn = await slow();
    const drained = once(fastify.lameduck, 'drain');
    const report = fastify.lameduck.shutdown('test').then((r) => {
      order.push('report');
      return r;
    });
    await drained;
    expect(order).toEqual([]);
    release();
    expect((await conn.response()).headers.connection).toBe('close');
    const r = await report;
    expect(order).toEqual(['handler done', 'preClose', 'onClose', 'report']);
    expect(r.hooks.map((h) => [h.name, h.outcome])).toEqual([['fastify.close', 'ok']]);
    await fastify.close();
    expect(order.filter((o) => o === 'onClose')).toHaveLength(1);
  });

  it('drains on fastify.close() before its own preClose and onClose hooks, running each once', async () => {
    const { fastify, order, release, slow } = await start();
    const conn = await slow();
    const drained = once(fastify.lameduck, 'drain');
    const closed = fastify.close().then(() => order.push('closed'));
    await drained;
    expect(order).toEqual([]);
    release();
    expect((await conn.response()).headers.connection).toBe('close');
    await closed;
    const r = await fastify.lameduck.shutdown();
    expect(r.reason).toBe('fastify.close');
    expect(order).toEqual(['handler done', 'preClose', 'onClose', 'closed']);
  });

  it('keeps forceCloseConnections: true from cutting in-flight requests: Fastify reaches it after the drain', async () => {
    const { fastify, release, slow } = await start({ forceCloseConnections: true });
    const conn = await slow();
    const drained = once(fastify.lameduck, 'drain');
    const closed = fastify.close();
    await drained;
    release();
    expect(await conn.response()).toMatchObject({ status: 200, body: 'slow' });
    await closed;
    expect((await fastify.lameduck.shutdown()).requests.completed).toBe(1);
  });

  // Pins what src/index.ts relies on in Fastify and avvio: the drain runs in an onClose handler queued
  // ahead of Fastify's own close step, so Fastify's router is not closing (and answers nothing itself)
  // until the drain is over, and no preClose hook runs before it, wherever it was registered.
  it("drains before Fastify's own close step: fastify.close() serves its drain delay with Fastify's defaults", async () => {
    const fastify = Fastify();
    const order: string[] = [];
    fastify.addHook('preClose', async () => void order.push('preClose registered first'));
    await fastify.register(gracefulPlugin, { ...quiet, drainDelay: 50 });
    fastify.get('/fast', async () => 'fast');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const held = deferred();
    cleanup(async () => {
      held.resolve();
      await closeServer(fastify.server);
      fastify.lameduck.dispose();
    });
    fastify.lameduck.onShutdown('hold', () => held.promise, { phase: 'beforeDrain', timeout: 60_000 });
    const started = once(fastify.lameduck, 'shutdown');
    const closed = fastify.close();
    await started;
    const res = await fetchOnce(await urlOf(fastify.server), '/fast');
    expect(res).toMatchObject({ status: 200, body: 'fast' });
    expect(res.headers.connection).toBe('close');
    expect(order).toEqual([]);
    held.resolve();
    await closed;
    expect(order).toEqual(['preClose registered first']);
  });

  it('lets a drain started by fastify.close() outlast pluginTimeout, which bounds preClose hooks', async () => {
    const { fastify, release, slow } = await start({ pluginTimeout: 500 });
    const conn = await slow();
    const drained = once(fastify.lameduck, 'drain');
    const closed = fastify.close();
    await drained;
    // Past pluginTimeout on purpose: a lower bound, not a race.
    await sleep(800);
    release();
    expect((await conn.response()).status).toBe(200);
    await expect(closed).resolves.toBeUndefined();
    expect((await fastify.lameduck.shutdown()).exitCode).toBe(0);
  });

  describe('a late request after fastify.close()', () => {
    for (const serverOptions of [{}, { return503OnClosing: false }]) {
      it(`gets lameduck's 503 with Retry-After, counted as rejected, with ${JSON.stringify(serverOptions)}`, async () => {
        const { fastify, connect } = await start(serverOptions, { idleGrace: 10_000 });
        const conn = await connect();
        conn.get('/fast');
        await conn.response();
        const drained = once(fastify.lameduck, 'drain');
        const closed = fastify.close();
        await drained;
        conn.get('/fast');
        const res = await conn.response();
        expect(res.status).toBe(503);
        expect(res.headers).toMatchObject({ connection: 'close', 'retry-after': '1' });
        await closed;
        expect((await fastify.lameduck.shutdown()).requests).toMatchObject({ completed: 0, rejected: 1 });
      });
    }
  });

  it('shares one lifecycle across two instances', async () => {
    const lameduck = createLameduck(quiet);
    cleanup(() => lameduck.dispose());
    const instances: FastifyInstance[] = [];
    for (let i = 0; i < 2; i++) {
      const fastify = Fastify();
      await fastify.register(gracefulPlugin, { lameduck });
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      instances.push(fastify);
    }
    expect(instances[1]?.lameduck).toBe(lameduck);
    const r = await lameduck.shutdown();
    expect(r.servers).toBe(2);
    expect(r.hooks.map((h) => h.name)).toEqual(['fastify.close', 'fastify.close#2']);
    for (const fastify of instances) expect(fastify.server.listening).toBe(false);
  });

  it('logs through the Fastify logger by default', async () => {
    const lines: { msg?: string }[] = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line)) };
    const fastify = Fastify({ logger: { level: 'info', stream } });
    await fastify.register(gracefulPlugin, { signals: false, exit: false });
    await fastify.close();
    await fastify.lameduck.shutdown();
    expect(lines.map((l) => l.msg)).toContain('shutdown complete');
  });

  it('runs the app onClose hook before the process exits on SIGTERM', async () => {
    const { child, conn } = await spawnAppWithSlowRequest(fastifyFactory, cleanup);
    child.process.kill('SIGTERM');
    await child.line('state draining');
    child.release();
    expect((await conn.response()).status).toBe(200);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const out = child.stdout();
    expect(out.indexOf('onClose')).toBeGreaterThan(out.indexOf('state closing'));
  });
});
