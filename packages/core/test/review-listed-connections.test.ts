// Review of f4ca00d (HTTP/1 connections node lists are not tracked while serving; the drain reads node's
// list when it starts): what the counts and the drain must still see.
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { cleanupAfterEach, deferred } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';
import { createLameduck } from '../src/index.js';

const cleanup = cleanupAfterEach();

describe('review: connections node lists', () => {
  it('counts and drains the connections of a server attached after it started listening', async () => {
    const lameduck = createLameduck({ signals: false, logger: false, idleGrace: 50 });
    cleanup(() => lameduck.dispose());
    const release = deferred();
    const slowArrived = deferred();
    const server = http.createServer(
      lameduck.handle((req, res) => {
        if (req.url !== '/slow') return res.end('fast');
        slowArrived.resolve();
        void release.promise.then(() => res.end('slow'));
      }),
    );
    server.keepAliveTimeout = 60_000;
    const port = await cleanup.listen(server);

    // Both connections exist before attach(): only node's list knows them.
    const idle = await cleanup.connect(port);
    idle.get('/fast');
    expect((await idle.response()).status).toBe(200);
    const busy = await cleanup.connect(port);
    busy.get('/slow');
    await slowArrived.promise;

    lameduck.attach(server);
    expect(lameduck.connections).toBe(2);
    expect(lameduck.inFlight).toBe(1);

    const report = lameduck.shutdown('test');
    await once(lameduck, 'drain');
    release.resolve();
    const slow = await busy.response();
    expect(slow.body).toBe('slow');
    expect(slow.headers.connection).toBe('close');
    await Promise.all([idle.closed, busy.closed]);
    expect(idle.ended).toBe(true);
    expect(idle.error).toBeUndefined();

    const final = await report;
    expect(final.deadlineReached).toBe(false);
    expect(final.requests.inFlightAtStart).toBe(1);
    expect(final.requests.completed).toBe(1);
    expect(final.sockets.openAtStart).toBe(2);
    expect(final.sockets.closedIdle).toBe(1);
    expect(final.sockets.closedAfterResponse).toBe(1);
  });

  it('counts a socket upgraded while serving once (node drops it from its list) and drains it', async () => {
    const lameduck = createLameduck({ signals: false, logger: false });
    cleanup(() => lameduck.dispose());
    const server = http.createServer(lameduck.handle((_req, res) => res.end('ok')));
    const upgraded = deferred<net.Socket>();
    server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
      upgraded.resolve(socket);
    });
    lameduck.attach(server);
    const port = await cleanup.listen(server);

    const client = await cleanup.connect(port);
    client.get('/ws', 'Upgrade: test\r\nConnection: Upgrade\r\n');
    await upgraded.promise;
    await client.head();
    expect(lameduck.connections).toBe(1);
    expect(lameduck.inFlight).toBe(0);

    lameduck.on('upgraded', ({ socket }) => socket.end());
    const final = await lameduck.shutdown('test');
    await client.closed;
    expect(final.deadlineReached).toBe(false);
    expect(final.sockets.openAtStart).toBe(1);
    expect(final.sockets.upgradedClosed).toBe(1);
  });
});
