import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createLameduck } from '@lameduck/core';
import { cleanupAfterEach } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

describe('CONNECT tunnels', () => {
  it('closes a CONNECT tunnel opened while serving when the listeners close, like an unclaimed upgraded socket', async () => {
    const lameduck = createLameduck({ signals: false, logger: false, idleGrace: 50, timeout: 1_500 });
    const server = http.createServer(lameduck.handle((_req, res) => res.end('ok')));
    server.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      socket.on('error', () => {});
    });
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    cleanup(() => lameduck.dispose());

    const client = net.connect(port, '127.0.0.1');
    cleanup(() => client.destroy());
    client.on('error', () => {});
    await once(client, 'connect');
    client.write('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
    await once(client, 'data');
    const closed = once(client, 'close');

    const report = await lameduck.shutdown('test');
    // Node takes a tunnel's socket off its connection list, like an upgraded one: lameduck follows it,
    // and with no 'upgraded' listener destroys it when the listeners close, instead of waiting for the
    // deadline with the listener's close held open by a socket nobody tracks.
    expect(report.deadlineReached).toBe(false);
    expect(report.sockets.upgradedClosed).toBe(1);
    await closed;
  });
});
