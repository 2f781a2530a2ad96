// A server attached in the middle of a drain has its connections taken over at once: node lists them,
// and the drain reads that list for the new server rather than leaving them to the deadline.
import http from 'node:http';
import { createLameduck } from '@lameduck/core';
import { cleanupAfterEach, RawConnection } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

describe('attach() once the shutdown has begun', () => {
  it("drains the new server's open keep-alive socket with the others, without reaching the deadline", async () => {
    const lameduck = createLameduck({
      signals: false,
      logger: false,
      discover: false,
      idleGrace: 0,
      timeout: 5_000,
    });
    cleanup(() => lameduck.dispose());
    const first = http.createServer(lameduck.handle((_req, res) => res.end('first')));
    lameduck.attach(first);
    await cleanup.listen(first);
    const late = http.createServer(lameduck.handle((_req, res) => res.end('late')));
    const port = await cleanup.listen(late);
    const idle = await RawConnection.open(port);
    cleanup(() => idle.destroy());
    idle.get('/');
    expect((await idle.response()).status).toBe(200);

    const shutdown = lameduck.shutdown();
    lameduck.attach(late);
    expect(lameduck.connections).toBe(1);
    const report = await shutdown;
    expect(report.deadlineReached).toBe(false);
    expect(report.sockets.closedIdle).toBe(1);
    expect(await idle.outcome()).toBe('fin');
  });
});
