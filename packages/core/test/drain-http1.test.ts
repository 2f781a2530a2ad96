import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createLameduck, type Lameduck, type LameduckOptions } from '@lameduck/core';
import { cleanupAfterEach, countdown, deferred, RawConnection, request, until } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';
import { acceptQueueLength } from '../src/attached-servers.js';

const cleanup = cleanupAfterEach();

interface Setup {
  lameduck: Lameduck;
  server: http.Server;
  port: number;
}

async function setup(handler: http.RequestListener, options: LameduckOptions = {}): Promise<Setup> {
  const lameduck = createLameduck({ signals: false, logger: false, ...options });
  const server = http.createServer(lameduck.handle(handler));
  // A long keep-alive timeout: only lameduck can close idle sockets within a test's time.
  server.keepAliveTimeout = 60_000;
  lameduck.attach(server);
  const port = await cleanup.listen(server);
  cleanup(() => lameduck.dispose());
  return { lameduck, server, port };
}

/** A handler that holds every request until `release()`; `arrived` counts requests that reached it. */
function heldHandler() {
  const gate = deferred();
  let arrived = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const handler: http.RequestListener = (req, res) => {
    arrived++;
    for (const w of waiters.filter((w) => w.n <= arrived)) w.resolve();
    void gate.promise.then(() => res.end(`done ${req.url}`));
  };
  return {
    handler,
    release: () => gate.resolve(),
    arrivals: (n: number) =>
      n <= arrived ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

/**
 * A keep-alive socket that had one answer and sits idle when the drain begins; resolves once the
 * listeners closed ('drain'), with the socket still open unless idleGrace says otherwise.
 */
async function idleSocketInDrain(options: LameduckOptions) {
  const { lameduck, port } = await setup((_req, res) => res.end('ok'), options);
  const conn = await cleanup.connect(port);
  conn.get('/first');
  expect((await conn.response()).status).toBe(200);
  const report = lameduck.shutdown();
  await once(lameduck, 'drain');
  return { conn, report };
}

describe('HTTP/1 drain', () => {
  it('finishes in-flight requests with Connection: close and then refuses new connections', async () => {
    const held = heldHandler();
    const { lameduck, port } = await setup(held.handler);
    const agent = new http.Agent({ keepAlive: true });
    cleanup(() => agent.destroy());
    const responses = Array.from({ length: 20 }, (_, i) => request(agent, port, `/slow/${i}`));
    await held.arrivals(20);
    expect(lameduck.inFlight).toBe(20);

    const report = lameduck.shutdown('test');
    expect(lameduck.state).toBe('draining');
    expect(lameduck.isReady).toBe(false);
    held.release();
    const results = await Promise.all(responses);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(`done /slow/${i}`);
      expect(r.headers?.connection).toBe('close');
    }
    const final = await report;
    expect(final.requests).toMatchObject({ inFlightAtStart: 20, completed: 20, rejected: 0, aborted: 0 });
    expect(final.sockets.closedAfterResponse).toBe(20);
    expect(final.deadlineReached).toBe(false);
    expect(final.exitCode).toBe(0);
    expect(lameduck.state).toBe('closed');
    // The agent drops sockets that answered Connection: close, so the next request dials anew: refused.
    expect((await request(agent, port, '/after')).error).toBe('ECONNREFUSED');
  });

  it('closes idle keep-alive sockets without waiting for keepAliveTimeout', async () => {
    const { lameduck, port } = await setup((_req, res) => res.end('ok'), { idleGrace: 0, timeout: 10_000 });
    const conns = await Promise.all(Array.from({ length: 200 }, () => RawConnection.open(port)));
    cleanup(() => {
      for (const c of conns) c.destroy();
    });
    for (const c of conns) c.get('/');
    for (const c of conns) expect((await c.response()).headers.connection).toBe('keep-alive');
    expect(lameduck.connections).toBe(200);

    const report = await lameduck.shutdown();
    expect(report.deadlineReached).toBe(false);
    expect(report.sockets).toMatchObject({ openAtStart: 200, closedIdle: 200, forced: 0 });
    // A FIN, never a reset.
    const outcomes = await Promise.all(conns.map((c) => c.outcome()));
    expect(new Set(outcomes)).toEqual(new Set(['fin']));
  });

  it('closes at once a keep-alive socket idle for longer than idleGrace, and not one that just went idle', async () => {
    const idleGrace = 2_000;
    const { lameduck, port } = await setup((_req, res) => res.end('ok'), { idleGrace, timeout: 20_000 });
    const longIdle = await RawConnection.open(port);
    const recent = await RawConnection.open(port);
    cleanup(
      () => recent.destroy(),
      () => longIdle.destroy(),
    );
    longIdle.get('/');
    expect((await longIdle.response()).status).toBe(200);
    // The idle time is the quantity under test: longer than idleGrace.
    await new Promise((resolve) => setTimeout(resolve, idleGrace + 300));
    recent.get('/');
    expect((await recent.response()).status).toBe(200);

    const report = lameduck.shutdown();
    expect(await longIdle.outcome()).toBe('fin');
    // It went at once, not idleGrace after the drain began: the socket that just went idle, which gets
    // the whole grace, is still open when the long-idle one has closed (and closes within its grace).
    expect(recent.ended).toBe(false);
    expect(await recent.outcome()).toBe('fin');
    expect((await report).sockets.closedIdle).toBe(2);
  });

  it('waits idleGrace before closing a socket that just went idle, answering a reuse with 503', async () => {
    const { conn, report } = await idleSocketInDrain({ idleGrace: 60_000, timeout: 20_000 });
    // The socket was idle for less than idleGrace: it is still open, so reusing it is safe.
    conn.get('/reuse');
    const late = await conn.response();
    expect(late.status).toBe(503);
    expect(late.headers.connection).toBe('close');
    expect(late.headers['retry-after']).toBe('1');
    expect(await conn.outcome()).toBe('fin');
    const final = await report;
    expect(final.requests.rejected).toBe(1);
    expect(final.sockets.closedAfterResponse).toBe(1);
  });

  it('answers, never resets, a request that reached an idle socket while the process was starved of CPU', async () => {
    const idleGrace = 100;
    const { conn, report } = await idleSocketInDrain({ idleGrace, timeout: 20_000 });
    // The next request lands in the server's receive buffer at once (loopback), then the event loop is
    // starved past idleGrace, as on a loaded machine: when it runs again, the reap timer has expired and
    // timers run before the poll phase that would read the request.
    conn.get('/reuse');
    const starvedUntil = performance.now() + idleGrace * 3;
    while (performance.now() < starvedUntil) {
      // Busy: no turn of the event loop.
    }
    const late = await conn.response();
    expect(late.status).toBe(503);
    expect(late.headers.connection).toBe('close');
    expect(await conn.outcome()).toBe('fin');
    const final = await report;
    expect(final.requests.rejected).toBe(1);
    expect(final.sockets.closedIdle).toBe(0);
  });

  it('accepts and answers the connections queued in the kernel when the listeners close, never resets them', async () => {
    const { lameduck, server, port } = await setup((_req, res) => res.end('ok'), { idleGrace: 60_000 });
    const outcomes = Array.from(
      { length: 20 },
      () =>
        new Promise<string>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          cleanup(() => socket.destroy());
          let data = '';
          socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
          socket.on('data', (chunk: Buffer) => {
            data += chunk;
          });
          socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
          socket.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
        }),
    );
    // The connect calls run in the next tick, and the kernel queues each connection for accept once its
    // handshake completes. Holding the event loop (no turn, so node accepts none of them) until the
    // kernel reports all 20 queued makes the state certain: all of them wait in the accept queue when the
    // listener is told to close. The bound is a safety net for a machine that never gets there.
    await new Promise((resolve) => process.nextTick(resolve));
    const heldUntil = performance.now() + 10_000;
    while (acceptQueueLength(server) < 20 && performance.now() < heldUntil) {
      // Busy: no turn of the event loop.
    }
    expect(acceptQueueLength(server)).toBe(20);
    const report = lameduck.shutdown();
    expect(new Set(await Promise.all(outcomes))).toEqual(new Set(['HTTP/1.1 503 Service Unavailable']));
    expect((await report).requests.rejected).toBe(20);
  });

  // A configured Retry-After on the 503 is a conformance scenario (packages/conformance).
  it('sends no Retry-After with retryAfter: false', async () => {
    const { conn, report } = await idleSocketInDrain({ idleGrace: 60_000, retryAfter: false });
    conn.get('/late');
    const late = await conn.response();
    expect(late.status).toBe(503);
    expect(late.headers['retry-after']).toBeUndefined();
    await report;
  });

  it('lets a keep-alive client that reuses its socket right after an in-flight response see a clean outcome', async () => {
    const held = heldHandler();
    const { lameduck, port } = await setup(held.handler);
    const conn = await cleanup.connect(port);
    conn.get('/inflight');
    await held.arrivals(1);
    const report = lameduck.shutdown();
    await once(lameduck, 'drain');
    held.release();
    const first = await conn.response();
    expect(first.headers.connection).toBe('close');
    // A client that ignores Connection: close and writes again at once: it gets a FIN, not a reset.
    conn.get('/again');
    expect(await conn.outcome()).toBe('fin');
    await report;
  });

  it('completes a streaming response that began before the drain, untruncated', async () => {
    const chunks = 10;
    const next = deferred();
    const { lameduck, port } = await setup(
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('chunk 0\n');
        void next.promise.then(async () => {
          for (let i = 1; i < chunks; i++) {
            res.write(`chunk ${i}\n`);
            await new Promise((r) => setImmediate(r));
          }
          res.end();
        });
      },
      { idleGrace: 0 },
    );
    const agent = new http.Agent({ keepAlive: true });
    cleanup(() => agent.destroy());
    const streams = Array.from({ length: 10 }, () => request(agent, port, '/stream'));
    await until(() => lameduck.inFlight === 10);
    const report = lameduck.shutdown();
    await once(lameduck, 'drain');
    next.resolve();
    const results = await Promise.all(streams);
    const expected = Array.from({ length: chunks }, (_, i) => `chunk ${i}\n`).join('');
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.truncated).toBe(false);
      expect(r.body).toBe(expected);
    }
    const final = await report;
    expect(final.requests.completed).toBe(10);
    expect(final.deadlineReached).toBe(false);
  });

  // Served through handle(), the wrapper notes pipelined requests itself; beside a listener of the
  // application's own, lameduck's server listener does.
  it.each(['handle()', 'a listener of its own'])(
    'answers pipelined requests in order and closes after the last one (%s)',
    async (via) => {
      const held = heldHandler();
      const { lameduck, port, server } =
        via === 'handle()'
          ? await setup(held.handler)
          : await setup(() => {}).then((s) => {
              s.server.removeAllListeners('request');
              s.server.on('request', held.handler);
              return s;
            });
      // Only handle()'s wrapper, or lameduck's listener before the application's.
      expect(server.listenerCount('request')).toBe(via === 'handle()' ? 1 : 2);
      const conn = await cleanup.connect(port);
      conn.send(
        'GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\n\r\n',
      );
      await held.arrivals(3);
      const report = lameduck.shutdown();
      await once(lameduck, 'drain');
      held.release();
      const responses = [await conn.response(), await conn.response(), await conn.response()];
      expect(responses.map((r) => r.body)).toEqual(['done /p1', 'done /p2', 'done /p3']);
      expect(responses.map((r) => r.headers.connection)).toEqual(['keep-alive', 'keep-alive', 'close']);
      expect(await conn.outcome()).toBe('fin');
      expect((await report).requests.completed).toBe(3);
    },
  );

  // Koa's error handler, for one, removes every header before it answers: the close must not depend on
  // lameduck's header surviving the application.
  it('closes the connection after an in-flight response whose handler removed every header', async () => {
    const gate = deferred();
    const arrived = deferred();
    const { lameduck, port } = await setup((_req, res) => {
      arrived.resolve();
      void gate.promise.then(() => {
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.end('done');
      });
    });
    const conn = await cleanup.connect(port);
    conn.get('/');
    await arrived.promise;
    const report = lameduck.shutdown();
    await once(lameduck, 'drain');
    gate.resolve();
    expect((await conn.response()).body).toBe('done');
    expect(await conn.outcome()).toBe('fin');
    expect((await report).sockets.closedAfterResponse).toBe(1);
  });

  it('closes connections that never sent a request once they are idle for idleGrace', async () => {
    const { lameduck, port } = await setup((_req, res) => res.end('ok'), { idleGrace: 0 });
    const silent = await cleanup.connect(port);
    await until(() => lameduck.connections === 1);
    const report = await lameduck.shutdown();
    expect(await silent.outcome()).toBe('fin');
    expect(report.sockets.closedIdle).toBe(1);
  });

  it('aborts in-flight requests at the deadline, destroys their sockets and counts them', async () => {
    const signals: AbortSignal[] = [];
    const arrived = countdown(2);
    let lameduck!: Lameduck;
    const setupResult = await setup(
      (req, res) => {
        const signal = lameduck.signalFor(req);
        signals.push(signal);
        arrived.tick();
        if (req.url === '/cooperative') {
          signal.addEventListener('abort', () => {
            res.statusCode = 503;
            res.end('aborted');
          });
        }
      },
      { timeout: 200, idleGrace: 0 },
    );
    lameduck = setupResult.lameduck;
    const agent = new http.Agent({ keepAlive: true });
    cleanup(() => agent.destroy());
    const stuck = request(agent, setupResult.port, '/stuck');
    const cooperative = request(agent, setupResult.port, '/cooperative');
    await arrived.done;
    const report = await lameduck.shutdown();
    expect(report.deadlineReached).toBe(true);
    expect(report.requests.aborted).toBe(1);
    expect(report.requests.completed).toBe(1);
    expect(report.sockets.forced).toBe(1);
    expect(report.exitCode).toBe(1);
    for (const s of signals) {
      expect(s.aborted).toBe(true);
      expect((s.reason as { code: string }).code).toBe('LAMEDUCK_ERR_DRAIN_DEADLINE');
    }
    expect((await cooperative).status).toBe(503);
    expect((await stuck).error).toBe('ECONNRESET');
  });

  it('flips readiness at the moment shutdown() is called and liveness when closed', async () => {
    const { lameduck } = await setup((_req, res) => res.end('ok'));
    const states: string[] = [];
    lameduck.on('state', ({ to }) => states.push(to));
    expect(lameduck.isReady).toBe(true);
    const report = lameduck.shutdown();
    expect(lameduck.isReady).toBe(false);
    expect(lameduck.shutdownSignal.aborted).toBe(true);
    expect(lameduck.shutdown()).toBe(report);
    await report;
    expect(states).toEqual(['draining', 'closing', 'closed']);
  });
});
