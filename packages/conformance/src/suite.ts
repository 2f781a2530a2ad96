import { once } from 'node:events';
import { createLameduck, type Lameduck, type LameduckOptions } from '@lameduck/core';
import { cleanupAfterEach, deferred, fetchOnce, type RawConnection, selfSignedCert } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';
import { spawnAppWithSlowRequest } from './child.js';
import { Controls, streamChunks } from './handlers.js';
import { describeAdapterOptions } from './options.js';
import type { ConformanceFactory, StartedServer, StartOptions } from './types.js';

/** In the test process lameduck must not touch signals, exit, or write to stderr. */
const embedded: LameduckOptions = { signals: false, exit: false, logger: false };

/** Exit code of a process that got a second SIGTERM during the drain: 128 + 15. */
const SECOND_SIGTERM_EXIT = 143;

interface Harness {
  server: StartedServer;
  lameduck: Lameduck;
  controls: Controls;
  /** A raw connection to the server, closed after the test. */
  connect(): Promise<RawConnection>;
  /** Sends `GET path` on `conn` and resolves once the slow handler runs, with its AbortSignal. */
  slow(conn: RawConnection): Promise<AbortSignal>;
}

/**
 * Registers one `describe` block that runs every drain scenario against a real server built by
 * `factory`: real sockets on 127.0.0.1, and a child process for signals and exit codes.
 *
 * @example
 * // packages/express/test/conformance.test.ts
 * import { runConformance } from '@lameduck/conformance';
 * import { express5 } from './factory.js';
 * runConformance(express5);
 */
export function runConformance(factory: ConformanceFactory): void {
  describe(`conformance: ${factory.name}`, () => {
    const cleanup = cleanupAfterEach();
    const tlsPair = selfSignedCert();

    async function start(
      options: LameduckOptions = {},
      more: Pick<StartOptions, 'health'> & { tls?: boolean } = {},
    ): Promise<Harness> {
      const controls = new Controls();
      cleanup(() => controls.release());
      const server = await factory.start({
        mode: 'embedded',
        options: { ...embedded, ...options },
        handlers: controls.handlers,
        ...(more.health ? { health: more.health } : {}),
        ...(more.tls && tlsPair ? { tls: tlsPair } : {}),
      });
      cleanup(() => server.close());
      const connect = () => cleanup.connect(server.url);
      const slow = (conn: RawConnection) => {
        const started = controls.slowStarted();
        conn.get('/slow');
        return started;
      };
      return { server, lameduck: server.lameduck, controls, connect, slow };
    }

    it('lets in-flight requests finish, each with Connection: close', async () => {
      const { lameduck, controls, connect, slow } = await start();
      const a = await connect();
      const b = await connect();
      await slow(a);
      await slow(b);
      const drained = once(lameduck, 'drain');
      const report = lameduck.shutdown();
      await drained;
      controls.release();
      for (const conn of [a, b]) {
        const res = await conn.response();
        expect(res).toMatchObject({ status: 200, body: 'slow' });
        expect(res.headers.connection).toBe('close');
        expect(await conn.outcome()).toBe('fin');
      }
      const r = await report;
      expect(r.requests).toMatchObject({ inFlightAtStart: 2, completed: 2, aborted: 0 });
      expect(r).toMatchObject({ deadlineReached: false, exitCode: 0 });
    });

    it('does not wait for idle keep-alive sockets', async () => {
      const { lameduck, connect } = await start();
      const conns = await Promise.all([connect(), connect(), connect()]);
      for (const conn of conns) {
        conn.get('/fast');
        const res = await conn.response();
        expect(res.body).toBe('fast');
        expect(res.headers.connection).not.toBe('close');
      }
      const r = await lameduck.shutdown();
      // node's own close() would wait out keepAliveTimeout (5 s; 72 s in Fastify).
      expect(r.durationMs).toBeLessThan(3_000);
      expect(r.sockets).toMatchObject({ openAtStart: 3, closedIdle: 3, forced: 0 });
      for (const conn of conns) expect(await conn.outcome()).toBe('fin');
    });

    it('answers a request on an open keep-alive socket during the drain with 503, Connection: close and Retry-After', async () => {
      const { lameduck, controls, connect } = await start({ idleGrace: 10_000, retryAfter: 7 });
      const conn = await connect();
      conn.get('/fast');
      await conn.response();
      const calls = controls.fastCalls;
      const drained = once(lameduck, 'drain');
      const report = lameduck.shutdown();
      await drained;
      conn.get('/fast');
      const res = await conn.response();
      expect(res.status).toBe(503);
      expect(res.headers).toMatchObject({ connection: 'close', 'retry-after': '7' });
      expect(controls.fastCalls).toBe(calls);
      expect(await conn.outcome()).toBe('fin');
      const r = await report;
      expect(r.requests.rejected).toBe(1);
      expect(r.durationMs).toBeLessThan(5_000);
    });

    it("serves a late request with Connection: close when lateRequests is 'serve'", async () => {
      const { lameduck, controls, connect } = await start({ idleGrace: 10_000, lateRequests: 'serve' });
      const conn = await connect();
      conn.get('/fast');
      await conn.response();
      const drained = once(lameduck, 'drain');
      const report = lameduck.shutdown();
      await drained;
      conn.get('/fast');
      const res = await conn.response();
      expect(res).toMatchObject({ status: 200, body: 'fast' });
      expect(res.headers.connection).toBe('close');
      expect(controls.fastCalls).toBe(2);
      expect(await conn.outcome()).toBe('fin');
      expect((await report).requests).toMatchObject({ completed: 1, rejected: 0 });
    });

    it('completes a streaming response untruncated', async () => {
      const { lameduck, controls, connect } = await start();
      const conn = await connect();
      const streaming = controls.streamStarted();
      conn.get('/stream');
      await streaming;
      await conn.head();
      const drained = once(lameduck, 'drain');
      const report = lameduck.shutdown();
      await drained;
      controls.release();
      const res = await conn.response();
      expect(res.status).toBe(200);
      expect(res.body).toBe(streamChunks.join(''));
      const r = await report;
      expect(r.requests.completed).toBe(1);
      expect(r).toMatchObject({ deadlineReached: false, exitCode: 0 });
    });

    it.skipIf(tlsPair === undefined)('lets an HTTPS request in flight finish', async () => {
      const { server, lameduck, controls, connect, slow } = await start({}, { tls: true });
      expect(server.url.startsWith('https://')).toBe(true);
      const conn = await connect();
      await slow(conn);
      const drained = once(lameduck, 'drain');
      const report = lameduck.shutdown();
      await drained;
      controls.release();
      const res = await conn.response();
      expect(res).toMatchObject({ status: 200, body: 'slow' });
      expect(res.headers.connection).toBe('close');
      const r = await report;
      expect(r.requests).toMatchObject({ inFlightAtStart: 1, completed: 1, aborted: 0 });
      expect(r.sockets.forced).toBe(0);
    });

    it("fires the request's AbortSignal at the deadline, then destroys what is left", async () => {
      const timeout = 400;
      const { lameduck, controls, connect, slow } = await start({ timeout });
      controls.ignoreAbort = true;
      const conn = await connect();
      const signal = await slow(conn);
      expect(signal.aborted).toBe(false);
      const r = await lameduck.shutdown();
      expect(signal.aborted).toBe(true);
      expect((signal.reason as { code?: string }).code).toBe('LAMEDUCK_ERR_DRAIN_DEADLINE');
      expect(r).toMatchObject({ deadlineReached: true, exitCode: 1 });
      expect(r.requests.aborted).toBe(1);
      expect(r.sockets.forced).toBe(1);
      expect(r.durationMs).toBeLessThan(timeout + 1_500);
      await expect(conn.response()).rejects.toThrow(/connection ended/);
    });

    it('runs hooks once each, in order, after-drain ones after in-flight work', async () => {
      const { lameduck, controls, connect, slow } = await start();
      const order: string[] = [];
      lameduck.onShutdown('before', () => order.push('before'), { phase: 'beforeDrain' });
      lameduck.onShutdown('after-1', async () => order.push(`after-1 inFlight=${lameduck.inFlight}`));
      lameduck.onShutdown('after-2', () => order.push('after-2'));
      const conn = await connect();
      await slow(conn);
      const drained = once(lameduck, 'drain');
      const first = lameduck.shutdown();
      expect(lameduck.shutdown('again')).toBe(first);
      await drained;
      order.push('release');
      controls.release();
      expect((await conn.response()).status).toBe(200);
      const r = await first;
      expect(await lameduck.shutdown()).toBe(r);
      expect(order).toEqual(['before', 'release', 'after-1 inFlight=0', 'after-2']);
      const ours = r.hooks.filter((h) => ['before', 'after-1', 'after-2'].includes(h.name));
      expect(ours.map((h) => [h.name, h.phase, h.outcome])).toEqual([
        ['before', 'beforeDrain', 'ok'],
        ['after-1', 'afterDrain', 'ok'],
        ['after-2', 'afterDrain', 'ok'],
      ]);
    });

    it('fails readiness the moment the shutdown starts; liveness holds', async () => {
      const { server, lameduck, connect } = await start({ drainDelay: 800 });
      expect((await fetchOnce(server.url, '/readyz')).status).toBe(200);
      const report = lameduck.shutdown();
      expect(lameduck.isReady).toBe(false);
      const probe = await connect();
      probe.get('/readyz');
      const ready = await probe.response();
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toEqual({ status: 'draining' });
      expect(ready.headers.connection).toBe('close');
      expect(await probe.outcome()).toBe('fin');
      const live = await fetchOnce(server.url, '/livez');
      expect(live.status).toBe(200);
      expect((await report).exitCode).toBe(0);
    });

    it('serves the health routes at the paths given, and none unless asked', async () => {
      const moved = await start({}, { health: { readinessPath: '/ready', livenessPath: '/live' } });
      const ready = await fetchOnce(moved.server.url, '/ready');
      expect(ready).toMatchObject({ status: 200, body: '{"status":"ready"}' });
      expect(ready.headers['content-type']).toMatch(/json/);
      expect(await fetchOnce(moved.server.url, '/live')).toMatchObject({
        status: 200,
        body: '{"status":"alive"}',
      });
      expect((await fetchOnce(moved.server.url, '/readyz')).status).toBe(404);
      for (const health of [{}, { readinessPath: false, livenessPath: false } as const]) {
        const none = await start({}, { health });
        expect((await fetchOnce(none.server.url, '/readyz')).status).toBe(404);
        expect((await fetchOnce(none.server.url, '/livez')).status).toBe(404);
      }
    });

    it("drains through the framework's own close", async (ctx) => {
      const { server, lameduck, controls, connect, slow } = await start();
      if (server.nativeClose === undefined) return ctx.skip();
      const order: string[] = [];
      lameduck.onShutdown('after', () => order.push('after'));
      const conn = await connect();
      await slow(conn);
      const drained = once(lameduck, 'drain');
      const closed = server.nativeClose().then(() => order.push('closed'));
      await drained;
      expect(lameduck.state).toBe('draining');
      order.push('release');
      controls.release();
      const res = await conn.response();
      expect(res).toMatchObject({ status: 200, body: 'slow' });
      expect(res.headers.connection).toBe('close');
      await closed;
      const r = await lameduck.shutdown();
      expect(r).toMatchObject({ reason: expect.any(String), exitCode: 0, deadlineReached: false });
      expect(r.requests.completed).toBe(1);
      expect(order.indexOf('release')).toBe(0);
      expect(order.filter((o) => o === 'after')).toHaveLength(1);
    });

    /**
     * A whole drain as a client sees it, started by `begin`: the drain delay serves (readiness 503,
     * liveness 200, other requests with `Connection: close`), an in-flight request finishes with
     * `Connection: close`, a request on an open keep-alive socket after the listeners closed gets 503 +
     * `Connection: close` + `Retry-After`, and the report counts that 503 as rejected, not completed.
     */
    async function drainAsAClientSeesIt(h: Harness, begin: () => Promise<unknown>): Promise<void> {
      const { server, lameduck, controls, connect, slow } = h;
      // Holds the drain delay open (it lasts as long as the before-drain hooks) until the probes below
      // are answered: no race with its timer.
      const held = deferred();
      lameduck.onShutdown('hold the drain delay', () => held.promise, {
        phase: 'beforeDrain',
        timeout: 60_000,
      });
      const keepAlive = await connect();
      keepAlive.get('/fast');
      expect((await keepAlive.response()).headers.connection).not.toBe('close');
      const inFlight = await connect();
      await slow(inFlight);
      let listenersClosed = false;
      lameduck.once('drain', () => {
        listenersClosed = true;
      });
      const started = once(lameduck, 'shutdown');
      const finished = begin();
      await started;

      const ready = await fetchOnce(server.url, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.headers.connection).toBe('close');
      const live = await fetchOnce(server.url, '/livez');
      expect(live.status).toBe(200);
      expect(live.headers.connection).toBe('close');
      const served = await fetchOnce(server.url, '/fast');
      expect(served).toMatchObject({ status: 200, body: 'fast' });
      expect(served.headers.connection).toBe('close');
      // Still in the drain delay: the hook above kept the probes from racing the listeners' close.
      expect(listenersClosed).toBe(false);

      const drained = once(lameduck, 'drain');
      held.resolve();
      await drained;
      const calls = controls.fastCalls;
      keepAlive.get('/fast');
      const late = await keepAlive.response();
      expect(late.status).toBe(503);
      expect(late.headers).toMatchObject({ connection: 'close', 'retry-after': '7' });
      expect(controls.fastCalls).toBe(calls);
      expect(await keepAlive.outcome()).toBe('fin');

      controls.release();
      const res = await inFlight.response();
      expect(res).toMatchObject({ status: 200, body: 'slow' });
      expect(res.headers.connection).toBe('close');
      expect(await inFlight.outcome()).toBe('fin');
      await finished;
      const r = await lameduck.shutdown();
      // Completed: the slow request, both probes and the request served during the drain delay.
      expect(r.requests).toMatchObject({ inFlightAtStart: 1, completed: 4, rejected: 1, aborted: 0 });
      expect(r).toMatchObject({ deadlineReached: false, exitCode: 0 });
    }

    const drainOptions: LameduckOptions = { drainDelay: 100, idleGrace: 10_000, retryAfter: 7 };

    it('serves the drain delay, then refuses late requests with 503 and Retry-After, counted as rejected', async () => {
      const h = await start(drainOptions);
      await drainAsAClientSeesIt(h, () => h.lameduck.shutdown());
    });

    it("does the same through the framework's own close, with the framework's default options", async (ctx) => {
      const h = await start(drainOptions);
      const { nativeClose } = h.server;
      if (nativeClose === undefined) return ctx.skip();
      await drainAsAClientSeesIt(h, nativeClose);
    });

    it('runs fifty apps in one process with signals on: one listener per signal, no MaxListenersExceededWarning', async () => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => {
        if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
      };
      process.on('warning', onWarning);
      cleanup(() => process.off('warning', onWarning));
      const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
      const servers: StartedServer[] = [];
      cleanup(async () => {
        for (const server of servers.splice(0)) await server.close();
      });
      for (let i = 0; i < 50; i++) {
        // Signals as by default (every lifecycle owns SIGTERM and SIGINT), but a stray one must not end
        // the test run.
        const controls = new Controls();
        const server = await factory.start({
          mode: 'embedded',
          options: { logger: false, exit: false },
          handlers: controls.handlers,
        });
        servers.push(server);
      }
      expect(process.listenerCount('SIGTERM')).toBeLessThanOrEqual(before.term + 1);
      expect(process.listenerCount('SIGINT')).toBeLessThanOrEqual(before.int + 1);
      for (const server of servers) {
        expect(await fetchOnce(server.url, '/fast')).toMatchObject({ status: 200, body: 'fast' });
        expect((await fetchOnce(server.url, '/readyz')).status).toBe(200);
      }
      // process.emitWarning() emits on a later tick; the requests above took many.
      expect(warnings).toEqual([]);
      for (const server of servers.splice(0)) await server.close();
      expect(process.listenerCount('SIGTERM')).toBe(before.term);
      expect(process.listenerCount('SIGINT')).toBe(before.int);
    });

    if (factory.buildAdapter !== undefined) {
      it('drains two servers whose adapters share one lifecycle', async () => {
        const lameduck = createLameduck(embedded);
        cleanup(() => lameduck.dispose());
        for (let i = 0; i < 2; i++) {
          const server = await factory.start({
            mode: 'embedded',
            options: {},
            lameduck,
            handlers: new Controls().handlers,
          });
          cleanup(() => server.close());
          expect(server.lameduck).toBe(lameduck);
          const conn = await cleanup.connect(server.url);
          conn.get('/fast');
          expect(await conn.response()).toMatchObject({ status: 200, body: 'fast' });
        }
        const r = await lameduck.shutdown();
        expect(r).toMatchObject({ servers: 2, exitCode: 0 });
        expect(r.sockets.closedIdle).toBe(2);
      });
    }

    describeAdapterOptions(factory);

    describe('in a child process', () => {
      const slowRequest = (options?: LameduckOptions) => spawnAppWithSlowRequest(factory, cleanup, options);

      it('drains on SIGTERM and exits 0', async () => {
        const { child: c, conn } = await slowRequest();
        c.process.kill('SIGTERM');
        await c.line('state draining');
        c.release();
        const res = await conn.response();
        expect(res).toMatchObject({ status: 200, body: 'slow' });
        expect(res.headers.connection).toBe('close');
        expect(await c.exited).toEqual({ code: 0, signal: null });
      });

      it('exits 1 when the deadline forces the drain', async () => {
        const { child: c, conn } = await slowRequest({ timeout: 300 });
        c.process.kill('SIGTERM');
        expect(await c.exited).toEqual({ code: 1, signal: null });
        await expect(conn.response()).rejects.toThrow(/connection ended/);
      });

      it(`exits ${SECOND_SIGTERM_EXIT} at once on a second SIGTERM`, async () => {
        const { child: c } = await slowRequest();
        c.process.kill('SIGTERM');
        await c.line('state draining');
        c.process.kill('SIGTERM');
        expect(await c.exited).toEqual({ code: SECOND_SIGTERM_EXIT, signal: null });
      });
    });
  });
}
