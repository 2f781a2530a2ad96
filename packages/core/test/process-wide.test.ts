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

  // With two 'request' listeners, node's emit copies the listener array for every request: lameduck's
  // own listener (which notes pipelined requests) is there only while handle() is not the only one.
  it("adds no 'request' listener to a server served through handle() alone, and one beside any other", async () => {
    const lameduck = createLameduck({ signals: false, logger: false });
    const wrapper = lameduck.handle((_req, res) => res.end('ok'));
    const server = http.createServer(wrapper);
    lameduck.attach(server);
    try {
      expect(server.listeners('request')).toEqual([wrapper]);
      const theirs = (_req: http.IncomingMessage, _res: http.ServerResponse) => {};
      server.on('request', theirs);
      // The check runs once the listener is in (node announces it before adding it).
      await Promise.resolve();
      const withTheirs = server.listeners('request');
      expect(withTheirs).toHaveLength(3);
      expect(withTheirs.slice(1)).toEqual([wrapper, theirs]);
      server.off('request', theirs);
      await Promise.resolve();
      expect(server.listeners('request')).toEqual([wrapper]);
      // A wrapper of another lifecycle does not note for this one.
      const other = createLameduck({ signals: false, logger: false });
      const foreign = other.handle(theirs);
      server.on('request', foreign);
      await Promise.resolve();
      expect(server.listeners('request')).toHaveLength(3);
      other.dispose();
      server.off('request', foreign);
      await Promise.resolve();
      expect(server.listeners('request')).toEqual([wrapper]);
    } finally {
      lameduck.dispose();
    }
    server.on('request', () => {});
    await Promise.resolve();
    // Disposed: nothing of lameduck's comes back.
    expect(server.listenerCount('request')).toBe(2);
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
