import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import {
  createLameduck,
  isLameduckError,
  type Lameduck,
  LameduckError,
  type LameduckOptions,
} from '@lameduck/core';
import { cleanupAfterEach, listen, RawConnection } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

function lifecycle(options: LameduckOptions = {}): Lameduck {
  const lameduck = createLameduck({ signals: false, logger: false, ...options });
  cleanup(() => lameduck.dispose());
  return lameduck;
}

function codeOf(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LameduckError);
    expect(isLameduckError(err)).toBe(true);
    return err as LameduckError;
  }
  throw new Error('expected a throw');
}

describe('options', () => {
  const bad: [string, unknown, RegExp][] = [
    ['timeout', -1, /"timeout" must be a number of milliseconds/],
    ['timeout', '10s', /"timeout".*got "10s"/],
    ['drainDelay', Number.NaN, /"drainDelay"/],
    ['idleGrace', 3e9, /"idleGrace".*2147483647/],
    ['hookTimeout', null, /"hookTimeout"/],
    ['lateRequests', 'drop', /"lateRequests" must be "reject" or "serve", got "drop"/],
    ['retryAfter', 1.5, /"retryAfter" must be false or a whole number of seconds/],
    ['retryAfter', true, /"retryAfter"/],
    ['signals', 'SIGTERM', /"signals" must be false or an array/],
    ['signals', ['SIGKILL'], /"signals" lists "SIGKILL", which cannot be caught/],
    ['signals', ['TERM'], /"signals" lists "TERM", which is not a signal name/],
    ['exit', 'yes', /"exit" must be true or false/],
    ['discover', 1, /"discover" must be true or false/],
    ['logger', console.log, /"logger" must be false or an object with info, warn and error/],
  ];
  for (const [name, value, message] of bad) {
    it(`rejects ${name}: ${String(value)}`, () => {
      const err = codeOf(() => createLameduck({ [name]: value } as LameduckOptions));
      expect(err.code).toBe('LAMEDUCK_ERR_OPTIONS_INVALID');
      expect(err.message).toMatch(message);
    });
  }

  it('rejects unknown options and names the known ones', () => {
    const err = codeOf(() => createLameduck({ timout: 5 } as unknown as LameduckOptions));
    expect(err.message).toMatch(/Unknown option "timout"; the options are .*timeout/);
  });

  it('rejects a drain delay that outlasts the timeout', () => {
    const err = codeOf(() => createLameduck({ drainDelay: 5_000, timeout: 5_000, signals: false }));
    expect(err.message).toMatch(/"drainDelay" \(5000 ms\) must be shorter than "timeout" \(5000 ms\)/);
  });

  it('rejects something that is not an http server', () => {
    const lameduck = lifecycle();
    expect(codeOf(() => lameduck.attach(net.createServer() as unknown as http.Server)).code).toBe(
      'LAMEDUCK_ERR_ATTACH_NOT_A_SERVER',
    );
    const err = codeOf(() => lameduck.attach({} as http.Server));
    expect(err.message).toBe('attach() takes a node http, https or http2 server, got {}.');
  });

  it('attaches a server once, however often it is given', () => {
    const lameduck = lifecycle();
    const server = http.createServer();
    lameduck.attach(server).attach(server);
    expect(server.listenerCount('connection')).toBe(2); // node's own, and one of ours
  });

  it('refuses a server another lifecycle attached explicitly', () => {
    const a = lifecycle();
    const b = lifecycle();
    const server = http.createServer();
    a.attach(server);
    expect(codeOf(() => b.attach(server)).code).toBe('LAMEDUCK_ERR_ATTACH_OWNED');
  });
});

describe('hooks', () => {
  it('runs hooks in order, cuts one that hangs at its timeout and keeps going', async () => {
    const lameduck = lifecycle({ hookTimeout: 5_000 });
    const order: string[] = [];
    let hungSignal: AbortSignal | undefined;
    lameduck.onShutdown('flush-cache', () => {
      order.push('flush-cache');
    });
    lameduck.onShutdown(
      'hangs',
      ({ signal }) => {
        order.push('hangs');
        hungSignal = signal;
        return new Promise(() => {});
      },
      { timeout: 50 },
    );
    lameduck.onShutdown('fails', () => {
      order.push('fails');
      throw new Error('database gone');
    });
    lameduck.onShutdown(
      'stop-consumer',
      ({ reason }) => {
        order.push(`stop-consumer:${reason}`);
      },
      { phase: 'beforeDrain' },
    );
    lameduck.onShutdown('close-db', async () => {
      await Promise.resolve();
      order.push('close-db');
    });
    const events: string[] = [];
    lameduck.on('hook', (h) => events.push(`${h.name}:${h.outcome}`));

    const report = await lameduck.shutdown('deploy');
    expect(order).toEqual(['stop-consumer:deploy', 'flush-cache', 'hangs', 'fails', 'close-db']);
    expect(report.hooks.map((h) => [h.name, h.phase, h.outcome])).toEqual([
      ['stop-consumer', 'beforeDrain', 'ok'],
      ['flush-cache', 'afterDrain', 'ok'],
      ['hangs', 'afterDrain', 'timeout'],
      ['fails', 'afterDrain', 'error'],
      ['close-db', 'afterDrain', 'ok'],
    ]);
    expect(report.hooks[3]?.error).toBe('database gone');
    expect(events).toEqual(report.hooks.map((h) => `${h.name}:${h.outcome}`));
    expect(hungSignal?.aborted).toBe(true);
    expect((hungSignal as AbortSignal).reason.code).toBe('LAMEDUCK_ERR_HOOK_TIMEOUT');
    expect(report.exitCode).toBe(1);
  });

  it('runs after-drain hooks only once the servers are closed', async () => {
    const lameduck = lifecycle();
    const server = http.createServer((_req, res) => res.end('ok'));
    lameduck.attach(server);
    await listen(server);
    let listeningDuringHook: boolean | undefined;
    let stateDuringHook: string | undefined;
    lameduck.onShutdown('check', () => {
      listeningDuringHook = server.listening;
      stateDuringHook = lameduck.state;
    });
    await lameduck.shutdown();
    expect(listeningDuringHook).toBe(false);
    expect(stateDuringHook).toBe('closing');
  });

  it('validates hooks and refuses late or duplicate ones', async () => {
    const lameduck = lifecycle();
    expect(codeOf(() => lameduck.onShutdown('', () => {})).code).toBe('LAMEDUCK_ERR_HOOK_INVALID');
    expect(codeOf(() => lameduck.onShutdown('x', 'nope' as never)).code).toBe('LAMEDUCK_ERR_HOOK_INVALID');
    expect(codeOf(() => lameduck.onShutdown('x', () => {}, { phase: 'later' as never })).message).toMatch(
      /"phase" must be "beforeDrain" or "afterDrain", got "later"/,
    );
    expect(codeOf(() => lameduck.onShutdown('x', () => {}, { timeout: -5 })).message).toMatch(/timeout/);
    const off = lameduck.onShutdown('x', () => {});
    expect(codeOf(() => lameduck.onShutdown('x', () => {})).code).toBe('LAMEDUCK_ERR_HOOK_DUPLICATE');
    off();
    lameduck.onShutdown('x', () => {});
    void lameduck.shutdown();
    expect(codeOf(() => lameduck.onShutdown('y', () => {})).code).toBe('LAMEDUCK_ERR_HOOK_LATE');
  });
});

describe('discovery and independence', () => {
  it('finds a server without attach(), including connections opened before the first request', async () => {
    const lameduck = lifecycle({ idleGrace: 0 });
    const server = http.createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 60_000;
    const port = await cleanup.listen(server);
    const silent = await RawConnection.open(port);
    const used = await RawConnection.open(port);
    cleanup(() => {
      silent.destroy();
      used.destroy();
    });
    used.get('/');
    await used.response();
    expect(lameduck.connections).toBe(2);
    const report = await lameduck.shutdown();
    expect(report.servers).toBe(1);
    expect(server.listening).toBe(false);
    expect(report.sockets).toMatchObject({ openAtStart: 2, closedIdle: 2 });
    expect(await silent.outcome()).toBe('fin');
  });

  it('serves late requests with Connection: close on a server without the gate, never 503 behind the handler', async () => {
    const lameduck = lifecycle({ idleGrace: 60_000 });
    let ran = 0;
    const server = http.createServer((_req, res) => {
      ran++;
      res.write('written by the handler');
      res.end();
    });
    server.keepAliveTimeout = 60_000;
    const port = await cleanup.listen(server);
    const conn = await cleanup.connect(port);
    conn.get('/');
    await conn.response();
    const report = lameduck.shutdown();
    await once(lameduck, 'drain');
    conn.get('/late');
    const late = await conn.response();
    expect([late.status, late.body, late.headers.connection]).toEqual([
      200,
      'written by the handler',
      'close',
    ]);
    expect(ran).toBe(2);
    expect((await report).requests).toMatchObject({ completed: 1, rejected: 0 });
  });

  it('stops discovering once attach() is called', async () => {
    const lameduck = lifecycle();
    const mine = http.createServer();
    lameduck.attach(mine);
    const other = http.createServer((_req, res) => res.end('other'));
    await listen(other);
    cleanup(() => other.close());
    const report = await lameduck.shutdown();
    expect(report.servers).toBe(1);
    expect(other.listening).toBe(true);
  });

  it('runs two lifecycles in one process independently', async () => {
    const a = lifecycle();
    const b = lifecycle();
    const serverA = http.createServer((_req, res) => res.end('a'));
    const serverB = http.createServer((_req, res) => res.end('b'));
    a.attach(serverA);
    b.attach(serverB);
    const portB = await listen(serverB);
    await listen(serverA);
    cleanup(() => serverB.close());
    const report = await a.shutdown();
    expect(report.servers).toBe(1);
    expect(a.state).toBe('closed');
    expect(b.state).toBe('ready');
    expect(serverA.listening).toBe(false);
    const conn = await cleanup.connect(portB);
    conn.get('/');
    expect((await conn.response()).body).toBe('b');
  });

  it('dispose() removes every listener it installed', async () => {
    const before = process.listenerCount('SIGTERM');
    const lameduck = createLameduck({ logger: false });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    const server = http.createServer();
    lameduck.attach(server);
    lameduck.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(server.listenerCount('connection')).toBe(1);
    expect(() => lameduck.attach(server)).toThrow(/disposed/);
  });

  it('removes its signal listeners after a manual shutdown', async () => {
    const before = process.listenerCount('SIGINT');
    const lameduck = createLameduck({ logger: false, exit: false });
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    await lameduck.shutdown();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('installs no signal listener with signals: false', () => {
    const before = ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
    lifecycle({ signals: false });
    expect(['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before);
  });

  it('gates requests of a server it does not track once the listeners closed', async () => {
    const lameduck = lifecycle({ discover: false });
    const tracked = http.createServer();
    lameduck.attach(tracked);
    await listen(tracked);
    let ran = false;
    const untracked = http.createServer(
      lameduck.handle((_req, res) => {
        ran = true;
        res.end('ran');
      }),
    );
    const port = await cleanup.listen(untracked);
    await lameduck.shutdown();
    const conn = await cleanup.connect(port);
    conn.get('/');
    const res = await conn.response();
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(ran).toBe(false);
  });

  it('answers health probes through handle()', async () => {
    const lameduck = lifecycle({ drainDelay: 60_000, timeout: 120_000 });
    const server = http.createServer(
      lameduck.handle((_req, res) => res.end('app'), { readinessPath: '/readyz', livenessPath: '/livez' }),
    );
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    const conn = await cleanup.connect(port);
    conn.get('/readyz?probe=1');
    const ready = await conn.response();
    expect([ready.status, JSON.parse(ready.body)]).toEqual([200, { status: 'ready' }]);
    conn.send('HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n');
    const headOnly = await new Promise<string>((resolve) => {
      conn.socket.once('data', (d) => resolve(String(d)));
    });
    expect(headOnly).toMatch(/^HTTP\/1.1 200/);
    const shutdown = once(lameduck, 'shutdown');
    void lameduck.shutdown('probe-test');
    const [event] = await shutdown;
    expect(event).toEqual({ reason: 'probe-test' });
    const after = await cleanup.connect(port);
    after.get('/readyz');
    expect((await after.response()).status).toBe(503);
  });
});
