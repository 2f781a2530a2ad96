import dc from 'node:diagnostics_channel';
import http from 'node:http';
import { createLameduck } from '@lameduck/core';
import { listen, RawConnection } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

describe('process-wide cost', () => {
  it('fifty lifecycles share one listener per signal and warn about nothing', () => {
    const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    // `exit: false`: the lifecycles own the signals, as fifty apps built with graceful() in one test
    // process do, but a stray signal must not end the test run.
    const lifecycles = Array.from({ length: 50 }, () => createLameduck({ exit: false, logger: false }));
    try {
      expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
      expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    } finally {
      for (const l of lifecycles) l.dispose();
      process.off('warning', onWarning);
    }
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('subscribes to no per-request channel while serving, and to the request channel during the drain', async () => {
    const requests = dc.channel('http.server.request.start');
    const connections = dc.channel('net.server.socket');
    expect(requests.hasSubscribers).toBe(false);
    const lameduck = createLameduck({ signals: false, logger: false });
    const server = http.createServer(lameduck.handle((_req, res) => res.end('ok')));
    // Discovery listens for new servers and connections until a server is attached explicitly.
    expect(connections.hasSubscribers).toBe(true);
    lameduck.attach(server);
    expect(connections.hasSubscribers).toBe(false);
    const port = await listen(server);
    const conn = await RawConnection.open(port);
    try {
      conn.get('/');
      expect((await conn.response()).status).toBe(200);
      expect(requests.hasSubscribers).toBe(false);
      const report = lameduck.shutdown();
      expect(requests.hasSubscribers).toBe(true);
      await report;
      expect(requests.hasSubscribers).toBe(false);
    } finally {
      conn.destroy();
      lameduck.dispose();
      server.close();
    }
  });
});
