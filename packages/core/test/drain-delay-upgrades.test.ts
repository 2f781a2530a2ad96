// The adaptive drain delay counts Upgrade requests as traffic: node publishes no request.start for
// them, so lameduck records their arrival when it follows the upgraded socket.
import http from 'node:http';
import type net from 'node:net';
import { createLameduck } from '@lameduck/core';
import { cleanupAfterEach } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

describe('drainDelay: { max, quiet } and upgrades', () => {
  it('closes the listeners only `quiet` ms after the last Upgrade request that arrived', async () => {
    const quiet = 300;
    const lameduck = createLameduck({
      signals: false,
      logger: false,
      drainDelay: { max: 60_000, quiet },
      timeout: 120_000,
    });
    cleanup(() => lameduck.dispose());
    const arrivals: number[] = [];
    const server = http.createServer(lameduck.handle((_req, res) => res.end('ok')));
    server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      arrivals.push(performance.now());
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    });
    lameduck.on('upgraded', ({ socket }) => socket.end());
    lameduck.attach(server);
    const port = await cleanup.listen(server);

    let drainAt: number | undefined;
    lameduck.once('drain', () => {
      drainAt = performance.now();
    });
    const shutdown = lameduck.shutdown('test');
    // Upgrade requests back to back, each on a new connection, until the listeners close or 100 went.
    let upgrades = 0;
    while (drainAt === undefined && upgrades < 100) {
      const conn = await cleanup.connect(port).catch(() => undefined);
      if (conn === undefined) break;
      conn.get('/ws', 'Upgrade: test\r\nConnection: Upgrade\r\n');
      await conn.closed;
      upgrades++;
    }
    await shutdown;
    expect(drainAt).toBeDefined();
    const before = arrivals.filter((t) => t <= (drainAt ?? 0));
    expect(before.length).toBeGreaterThan(1);
    // Whatever the machine's pace: no upgrade arrived in the `quiet` ms before the listeners closed.
    expect((drainAt ?? 0) - (before.at(-1) ?? 0)).toBeGreaterThanOrEqual(quiet - 1);
  });
});
