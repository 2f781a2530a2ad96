// Drain bugs found by the chaos suite (packages/chaos), each reduced to one deterministic case.
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { createLameduck } from '@lameduck/core';
import { cleanupAfterEach, countdown, listen, requireSelfSignedCert } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

const cleanup = cleanupAfterEach();
const tlsFixture = requireSelfSignedCert();

describe('chaos regressions', () => {
  // chaos seed 2, trial 5: a client that stopped reading a large response was cut at the deadline, and
  // the report counted the request `completed`. Destroying the socket cancels node's queued writes, and
  // node still emits 'finish' for them (the write callback runs without `_hadError`), so
  // `writableFinished` is true for a response whose tail was thrown away.
  it('counts a response cut at the deadline as aborted, although node says it finished', async () => {
    // Far more than loopback's socket buffers hold, so the response cannot leave the process in time.
    const size = 64 * 1_048_576;
    const lameduck = createLameduck({ signals: false, exit: false, logger: false, timeout: 200 });
    let response: http.ServerResponse | undefined;
    const server = http.createServer(
      lameduck.handle((_req, res) => {
        response = res;
        res.setHeader('Content-Length', size);
        res.end(Buffer.alloc(size, 120));
      }),
    );
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    cleanup(() => lameduck.dispose());

    const client = net.connect(port, '127.0.0.1');
    cleanup(() => client.destroy());
    client.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // The head arrived: stop reading, as a stalled client does.
    await once(client, 'data');
    client.pause();
    expect(response?.writableFinished).toBe(false);

    const report = await lameduck.shutdown();
    expect(report.deadlineReached).toBe(true);
    expect(report.requests).toMatchObject({ completed: 0, aborted: 1 });
    expect(report.sockets.forced).toBe(1);
  });

  // chaos seed 3, trial 4 (fastify with `http2: true, https: { allowHTTP1: true }`): HTTP/1 requests
  // pipelined while serving were not noted, so the drain saw only the first; at the deadline the report
  // counted one aborted request where the client lost three.
  it.each(['its own listener', 'handle()'])(
    'tracks HTTP/1 requests pipelined on an HTTP/2 server with allowHTTP1 (%s)',
    async (via) => {
      const lameduck = createLameduck({ signals: false, exit: false, logger: false, timeout: 200 });
      const arrived = countdown(3);
      const handler = (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
        arrived.tick();
        // Held past the deadline: each response is in flight when the drain starts.
        res.setHeader('Content-Type', 'text/plain');
        res.write('started');
      };
      const server = http2.createSecureServer(
        { ...tlsFixture, allowHTTP1: true },
        via === 'handle()'
          ? (lameduck.handle(handler as unknown as http.RequestListener) as unknown as typeof handler)
          : handler,
      );
      lameduck.attach(server);
      const port = await listen(server);
      cleanup(() => {
        lameduck.dispose();
        server.close();
      });

      const client = tls.connect({
        port,
        host: '127.0.0.1',
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      cleanup(() => client.destroy());
      await once(client, 'secureConnect');
      client.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(3));
      await arrived.done;

      const report = await lameduck.shutdown();
      expect(report.requests).toMatchObject({ inFlightAtStart: 3, completed: 0, aborted: 3 });
    },
  );

  // Found alongside the previous one: on a server with `allowHTTP1`, a WebSocket was never announced
  // through 'upgraded' and was reaped as an idle HTTP/1 socket (the client saw 1006, not 1001).
  it('announces WebSockets upgraded on an HTTP/2 server with allowHTTP1', async () => {
    const lameduck = createLameduck({ signals: false, exit: false, logger: false, timeout: 5_000 });
    const server = http2.createSecureServer({ ...tlsFixture, allowHTTP1: true });
    lameduck.attach(server);
    const wss = new WebSocketServer({ server: server as unknown as http.Server });
    const sockets = new Map<unknown, WebSocket>();
    wss.on('connection', (ws, req) => sockets.set(req.socket, ws));
    lameduck.on('upgraded', ({ socket }) => sockets.get(socket)?.close(1001));
    const port = await listen(server);
    cleanup(() => {
      lameduck.dispose();
      wss.close();
      server.close();
    });

    const client = new WebSocket(`wss://127.0.0.1:${port}`, { rejectUnauthorized: false });
    cleanup(() => client.terminate());
    await once(client, 'open');
    const closed = once(client, 'close');
    const report = await lameduck.shutdown();
    const [code] = (await closed) as [number];
    expect(code).toBe(1001);
    expect(report.sockets).toMatchObject({ upgradedClosed: 1, closedIdle: 0 });
  });

  // chaos seed 101, trial 31 (fastify, h2c): a stream cut at the deadline ended, for node's client, like
  // a complete response. session.destroy() without a code resets each open stream with NO_ERROR, and a
  // client takes RST_STREAM(NO_ERROR) after data as the end of the body (node's emits 'end', rstCode 0).
  it('resets HTTP/2 streams cut at the deadline with an error code', async () => {
    const lameduck = createLameduck({ signals: false, exit: false, logger: false, timeout: 200 });
    const arrived = countdown(2);
    const server = http2.createServer((req, res) => {
      arrived.tick();
      // Both held past the deadline: one has sent part of its body, one nothing yet.
      if (req.url === '/partial') res.write('part of the body');
    });
    lameduck.attach(server);
    const port = await listen(server);
    cleanup(() => {
      lameduck.dispose();
      server.close();
    });

    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    cleanup(() => client.destroy());
    const outcome = (path: string) =>
      new Promise<{ rstCode: number | undefined }>((resolve) => {
        const stream = client.request({ ':path': path });
        stream.on('error', () => {});
        stream.resume();
        stream.on('close', () => resolve({ rstCode: stream.rstCode }));
      });
    const partial = outcome('/partial');
    const nothing = outcome('/nothing');
    await arrived.done;

    const report = await lameduck.shutdown();
    expect(report.requests).toMatchObject({ completed: 0, aborted: 2 });
    expect((await partial).rstCode).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect((await nothing).rstCode).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
  });
});
