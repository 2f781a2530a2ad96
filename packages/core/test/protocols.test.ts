import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { createLameduck, type Lameduck } from '@lameduck/core';
import { cleanupAfterEach, deferred, listen, request, requireSelfSignedCert, until } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

const cleanup = cleanupAfterEach();
const tlsFixture = requireSelfSignedCert();

function lifecycle(options: Parameters<typeof createLameduck>[0] = {}): Lameduck {
  const lameduck = createLameduck({ signals: false, logger: false, ...options });
  cleanup(() => lameduck.dispose());
  return lameduck;
}

describe('HTTPS', () => {
  it('finishes an in-flight request on a TLS socket and closes idle TLS sockets cleanly', async () => {
    const lameduck = lifecycle({ idleGrace: 0 });
    const release = deferred();
    const arrived = deferred();
    const server = https.createServer(tlsFixture, (req, res) => {
      if (req.url === '/idle') return void res.end('idle');
      arrived.resolve();
      void release.promise.then(() => res.end('secure done'));
    });
    server.keepAliveTimeout = 60_000;
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    const agent = new https.Agent({ keepAlive: true, ca: tlsFixture.cert, maxSockets: 10 });
    cleanup(() => agent.destroy());
    const get = (path: string, via = agent) => request(via, port, path, { servername: 'localhost' });
    // One idle keep-alive TLS socket (its own agent, so the slow request cannot reuse it).
    const idleAgent = new https.Agent({ keepAlive: true, ca: tlsFixture.cert });
    cleanup(() => idleAgent.destroy());
    const idle = await get('/idle', idleAgent);
    expect(idle.headers?.connection).toBe('keep-alive');
    const pending = get('/slow');
    await arrived.promise;
    const report = lameduck.shutdown();
    await once(lameduck, 'drain');
    release.resolve();
    const result = await pending;
    expect(result).toMatchObject({ status: 200, body: 'secure done', truncated: false });
    expect(result.headers?.connection).toBe('close');
    const final = await report;
    expect(final.requests).toMatchObject({ completed: 1, aborted: 0 });
    expect(final.sockets).toMatchObject({ closedIdle: 1, closedAfterResponse: 1, forced: 0 });
    expect(final.deadlineReached).toBe(false);
  });

  it('holds the drain for a TLS handshake in progress and reaps it when it stays silent', async () => {
    const lameduck = lifecycle({ idleGrace: 0 });
    const server = https.createServer(tlsFixture, (_req, res) => res.end('ok'));
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    const socket = tls.connect({ host: '127.0.0.1', port, ca: tlsFixture.cert, servername: 'localhost' });
    cleanup(() => socket.destroy());
    await once(socket, 'secureConnect');
    await until(() => lameduck.connections === 1);
    const closed = once(socket, 'close');
    const report = await lameduck.shutdown();
    await closed;
    expect(report.sockets.closedIdle).toBe(1);
    expect(report.deadlineReached).toBe(false);
  });
});

describe('HTTP/2', () => {
  for (const secure of [false, true]) {
    it(`sends GOAWAY, finishes in-flight streams and refuses new ones (${secure ? 'TLS' : 'h2c'})`, async () => {
      const lameduck = lifecycle();
      const release = deferred();
      const arrived = deferred();
      let arrivals = 0;
      const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
        arrivals++;
        arrived.resolve();
        void release.promise.then(() => res.end(`h2 done ${req.url}`));
      };
      const server = secure ? http2.createSecureServer(tlsFixture, handler) : http2.createServer(handler);
      lameduck.attach(server);
      const port = await listen(server);
      cleanup(() => new Promise<void>((r) => server.close(() => r())));
      const origin = `${secure ? 'https' : 'http'}://127.0.0.1:${port}`;
      const client = http2.connect(origin, secure ? { ca: tlsFixture.cert, servername: 'localhost' } : {});
      cleanup(() => client.destroy());
      client.on('error', () => {});
      const goaway = once(client, 'goaway');

      const stream = client.request({ ':path': '/inflight' });
      let body = '';
      stream.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      const ended = once(stream, 'end');
      const headers = once(stream, 'response');
      await arrived.promise;
      expect(lameduck.inFlight).toBe(1);

      const report = lameduck.shutdown();
      await goaway;
      // The client knows from GOAWAY that nothing new is processed here: it refuses the stream
      // (node < 24 throws at once, node 24 errors the stream), and the server never sees it.
      const refused = await new Promise<string>((resolve) => {
        try {
          client
            .request({ ':path': '/new' })
            .on('error', (err: NodeJS.ErrnoException) => resolve(String(err.code)));
        } catch (err) {
          resolve(String((err as NodeJS.ErrnoException).code));
        }
      });
      expect(refused).toBe('ERR_HTTP2_GOAWAY_SESSION');
      release.resolve();
      const [h] = await headers;
      expect(h[':status']).toBe(200);
      await ended;
      expect(body).toBe('h2 done /inflight');
      const final = await report;
      expect(arrivals).toBe(1);
      expect(final.requests).toMatchObject({ inFlightAtStart: 1, completed: 1, aborted: 0 });
      expect(final.sockets).toMatchObject({ closedAfterResponse: 1, forced: 0 });
      // And a new connection is refused outright.
      const fresh = http2.connect(origin, secure ? { ca: tlsFixture.cert, servername: 'localhost' } : {});
      cleanup(() => fresh.destroy());
      const [err] = (await once(fresh, 'error')) as [NodeJS.ErrnoException];
      expect(err.code).toBe('ECONNREFUSED');
    });
  }

  it('drains HTTP/1 clients of an HTTP/2 server with allowHTTP1 like HTTPS', async () => {
    const lameduck = lifecycle({ idleGrace: 60_000 });
    const release = deferred();
    const arrived = deferred();
    const server = http2.createSecureServer({ ...tlsFixture, allowHTTP1: true }, (req, res) => {
      if (req.url === '/slow') {
        arrived.resolve();
        void release.promise.then(() => res.end(`h1 done ${req.httpVersion}`));
      } else res.end('fast');
    });
    lameduck.attach(server);
    const port = await listen(server);
    cleanup(() => new Promise<void>((r) => server.close(() => r())));
    const agent = new https.Agent({ keepAlive: true, ca: tlsFixture.cert, maxSockets: 1 });
    cleanup(() => agent.destroy());
    const get = (path: string) => request(agent, port, path, { servername: 'localhost' });
    const pending = get('/slow');
    await arrived.promise;
    expect(lameduck.inFlight).toBe(1);
    const report = lameduck.shutdown();
    release.resolve();
    const result = await pending;
    expect(result).toMatchObject({ status: 200, body: 'h1 done 1.1', truncated: false });
    expect(result.error).toBeUndefined();
    expect(result.headers?.connection).toBe('close');
    const final = await report;
    expect(final.requests.completed).toBe(1);
    expect(final.sockets).toMatchObject({ closedAfterResponse: 1, forced: 0 });
  });

  it('destroys HTTP/2 sessions at the deadline and aborts their streams', async () => {
    const lameduck = lifecycle({ timeout: 100 });
    const signals: AbortSignal[] = [];
    const server = http2.createServer((req) => {
      signals.push(lameduck.signalFor(req));
    });
    lameduck.attach(server);
    const port = await listen(server);
    cleanup(() => new Promise<void>((r) => server.close(() => r())));
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    cleanup(() => client.destroy());
    const stream = client.request({ ':path': '/stuck' });
    stream.on('error', () => {});
    await until(() => lameduck.inFlight === 1);
    const report = await lameduck.shutdown();
    expect(report.deadlineReached).toBe(true);
    expect(report.requests.aborted).toBe(1);
    expect(report.sockets.forced).toBe(1);
    expect(signals[0]?.aborted).toBe(true);
  });
});

describe('upgraded sockets', () => {
  async function wsServer(lameduck: Lameduck) {
    const server = http.createServer((_req, res) => res.end('http'));
    lameduck.attach(server);
    const wss = new WebSocketServer({ server });
    const port = await listen(server);
    cleanup(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    client.on('error', () => {});
    cleanup(() => client.terminate());
    await once(client, 'open');
    return { server, wss, client, port };
  }

  it('announces upgraded sockets so the app closes them with 1001, then finishes', async () => {
    const lameduck = lifecycle({ timeout: 10_000 });
    const { wss, client } = await wsServer(lameduck);
    expect(lameduck.connections).toBe(1);
    const announced: unknown[] = [];
    lameduck.on('upgraded', ({ socket, request }) => {
      announced.push(request.url);
      for (const ws of wss.clients)
        if ((ws as unknown as { _socket: unknown })._socket === socket) ws.close(1001);
    });
    const closed = once(client, 'close');
    const report = await lameduck.shutdown();
    const [code] = await closed;
    expect(code).toBe(1001);
    expect(announced).toEqual(['/']);
    expect(report.sockets.upgradedClosed).toBe(1);
    expect(report.deadlineReached).toBe(false);
  });

  it('destroys upgraded sockets at once when nobody listens for them', async () => {
    const lameduck = lifecycle({ timeout: 10_000 });
    const { client } = await wsServer(lameduck);
    const closed = once(client, 'close');
    const report = await lameduck.shutdown();
    const [code] = await closed;
    expect(code).toBe(1006);
    expect(report.deadlineReached).toBe(false);
  });

  it('destroys upgraded sockets the app did not close at the deadline', async () => {
    const lameduck = lifecycle({ timeout: 100 });
    const { client } = await wsServer(lameduck);
    lameduck.on('upgraded', () => {});
    const closed = once(client, 'close');
    const report = await lameduck.shutdown();
    await closed;
    expect(report.deadlineReached).toBe(true);
    expect(report.sockets.forced).toBe(1);
  });

  it('leaves Upgrade requests alone when the app has no upgrade listener', async () => {
    const lameduck = lifecycle();
    const server = http.createServer((req, res) => res.end(`plain ${req.headers.upgrade}`));
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    expect(server.listenerCount('upgrade')).toBe(0);
    const res = await new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, headers: { Connection: 'Upgrade', Upgrade: 'websocket' } }, (r) => {
          let b = '';
          r.on('data', (d) => {
            b += d;
          });
          r.on('end', () => resolve(b));
        })
        .on('error', (e) => resolve(String(e)));
    });
    expect(res).toBe('plain websocket');
  });
});
