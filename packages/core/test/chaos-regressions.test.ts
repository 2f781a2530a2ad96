// Drain bugs found by the chaos suite (packages/chaos), each reduced to one deterministic case.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createLameduck } from '@lameduck/core';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from './helpers.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

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
    const port = await listen(server);
    cleanup.push(() => {
      lameduck.dispose();
      server.closeAllConnections();
      server.close();
    });

    const client = net.connect(port, '127.0.0.1');
    cleanup.push(() => client.destroy());
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
});
