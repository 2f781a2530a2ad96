// The adaptive drain delay (`drainDelay: { max, quiet }`): it ends once no request has arrived for
// `quiet` ms, probes aside, and never later than `max`. Real servers on 127.0.0.1, in process.
import dc from 'node:diagnostics_channel';
import { once } from 'node:events';
import http from 'node:http';
import {
  createLameduck,
  type Lameduck,
  LameduckError,
  type LameduckOptions,
  type ShutdownReport,
} from '@lameduck/core';
import { cleanupAfterEach, listen, request } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

interface Logged {
  msg: string;
  fields: Record<string, unknown>;
}

async function start(options: LameduckOptions) {
  const logged: Logged[] = [];
  const log = (fields: Record<string, unknown>, msg: string) => logged.push({ msg, fields });
  const lameduck: Lameduck = createLameduck({
    signals: false,
    logger: { info: log, warn: log, error: log },
    ...options,
  });
  /**
   * performance.now() of each application request the server saw, in order: stamped by a subscriber of
   * node's request channel that comes before lameduck's (which subscribes when the shutdown starts), so
   * never later than lameduck's own note of the arrival. A stamp in the handler could come later by
   * however long the process was descheduled in between, on a loaded machine.
   */
  const arrivals: number[] = [];
  const server = http.createServer(
    lameduck.handle((_req, res) => res.end('ok'), { readinessPath: '/readyz' }),
  );
  const onStart = (message: unknown) => {
    const { server: from, request } = message as { server: unknown; request: http.IncomingMessage };
    if (from === server && request.url !== '/readyz') arrivals.push(performance.now());
  };
  dc.subscribe('http.server.request.start', onStart);
  cleanup(() => dc.unsubscribe('http.server.request.start', onStart));
  lameduck.attach(server);
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true });
  cleanup(
    () => agent.destroy(),
    () => lameduck.dispose(),
    () => new Promise((resolve) => server.close(resolve)),
  );
  const drained = once(lameduck, 'drain').then(() => performance.now());
  return { lameduck, port, agent, logged, arrivals, drained };
}

describe('drainDelay: { max, quiet }', () => {
  it('ends after `quiet` ms without requests, long before `max`', async () => {
    const { lameduck, logged } = await start({ drainDelay: { max: 60_000, quiet: 200 }, timeout: 120_000 });
    const report: ShutdownReport = await lameduck.shutdown();
    expect(report.phases.delayMs).toBeGreaterThanOrEqual(200);
    expect(report.phases.delayMs).toBeLessThan(60_000);
    expect(logged.map((l) => l.msg)).toContain('drain delay over: no request arrived for `quiet` ms');
  });

  it('lasts while requests keep arriving: the listeners close only `quiet` ms after the last one', async () => {
    const quiet = 300;
    const { lameduck, port, agent, arrivals, drained } = await start({
      drainDelay: { max: 60_000, quiet },
      timeout: 120_000,
    });
    const shutdown = lameduck.shutdown();
    // Back-to-back requests, each on a new connection (every response in the delay closes its own),
    // until the listeners close: the last ones are refused.
    let served = 0;
    let done = false;
    void drained.then(() => {
      done = true;
    });
    while (!done && served < 100) {
      const r = await request(agent, port, '/');
      if (r.status !== 200) break;
      expect(r.headers?.connection).toBe('close');
      served++;
    }
    const drainAt = await drained;
    await shutdown;
    expect(served).toBeGreaterThan(0);
    // Whatever the machine's pace: no request arrived in the `quiet` ms before the listeners closed.
    const before = arrivals.filter((t) => t <= drainAt);
    expect(drainAt - (before.at(-1) ?? 0)).toBeGreaterThanOrEqual(quiet - 1);
  });

  it('does not count readiness probes as traffic', async () => {
    const { lameduck, port, agent } = await start({
      drainDelay: { max: 5_000, quiet: 200 },
      timeout: 60_000,
    });
    const shutdown = lameduck.shutdown();
    let stop = false;
    const probing = (async () => {
      let probes = 0;
      while (!stop && probes < 10_000) {
        const r = await request(agent, port, '/readyz');
        if (r.status !== 503) break;
        probes++;
      }
      return probes;
    })();
    const report = await shutdown;
    stop = true;
    expect(await probing).toBeGreaterThan(0);
    // Had the probes counted, they would have held the delay to `max`.
    expect(report.phases.delayMs).toBeLessThan(5_000);
  });

  it('ends at `max` when a request arrived too late for `quiet` to pass before it', async () => {
    // quiet = max: any request in the delay pushes the quiet moment past `max`.
    const { lameduck, port, agent, logged } = await start({
      drainDelay: { max: 400, quiet: 400 },
      timeout: 60_000,
    });
    const shutdown = lameduck.shutdown();
    expect((await request(agent, port, '/')).status).toBe(200);
    const report = await shutdown;
    expect(report.phases.delayMs).toBeGreaterThanOrEqual(400);
    expect(logged.find((l) => l.msg.startsWith('drain delay over'))?.msg).toBe(
      'drain delay over: `max` reached with requests still arriving',
    );
  });

  const bad: [unknown, RegExp][] = [
    [
      { max: 1000 },
      /"drainDelay.quiet" must be a number of milliseconds from 1 to drainDelay.max \(1000\), got undefined/,
    ],
    [{ max: 1000, quiet: 2000 }, /"drainDelay.quiet" .* got 2000/],
    [{ max: 1000, quiet: 0 }, /"drainDelay.quiet" .* got 0/],
    [{ max: -1, quiet: 10 }, /"drainDelay.max" must be a number of milliseconds/],
    [
      { max: 1000, quiet: 10, min: 5 },
      /Unknown key "min" in option "drainDelay"; the options are max, quiet/,
    ],
    ['5s', /"drainDelay" must be a number of milliseconds .* or \{ max, quiet \}/],
  ];
  for (const [value, message] of bad) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      let error: unknown;
      try {
        createLameduck({ signals: false, drainDelay: value as number });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(LameduckError);
      expect((error as LameduckError).code).toBe('LAMEDUCK_ERR_OPTIONS_INVALID');
      expect((error as LameduckError).message).toMatch(message);
    });
  }
});
