import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { get, killAfterEach, startKeeper, tmpDir, writeConfig } from './helpers.js';

const seenPids = killAfterEach();

type Outcome = 'served' | 'refused' | string;

/** One request on a new connection: served, refused by the kernel, or how it failed (a reset is ECONNRESET). */
function attempt(port: number, urlPath = '/'): Promise<Outcome> {
  return get(port, undefined, urlPath).then(
    (r) => (r.status === 200 ? 'served' : `status ${r.status}`),
    (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNREFUSED' ? 'refused' : (error.code ?? error.message),
  );
}

describe('stopping the keeper', () => {
  // Each worker's drain is held open twice over, so that every moment below is decided by what has
  // happened, not by timing: a beforeDrain hook keeps it accepting until the test lets that worker stop
  // accepting, and a request held in flight keeps it alive after that.
  it('serves or refuses connections made at every moment of a stop, never accepts and resets them', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'app.json');
    const release = path.join(dir, 'release');
    const accepting = path.join(dir, 'accepting');
    writeConfig(config, {
      name: 'http',
      message: 'hello',
      hold: release,
      holdAccepting: accepting,
      drainTimeout: 120_000,
    });
    const keeper = startKeeper(
      [
        '--listen',
        'http=127.0.0.1:0',
        '--control',
        path.join(dir, 'control.sock'),
        '--workers',
        '2',
        '--settle',
        '100ms',
        '--drain-timeout',
        '120s',
      ],
      config,
    );
    const held = await keeper.msg('socket held');
    const port = Number(/:(\d+)$/.exec(String(held.address))?.[1]);
    await keeper.msg('generation serving');
    const slots = new Map<number, number>();
    for (const l of keeper.lines.filter((l) => l.msg === 'worker started'))
      slots.set(Number(l.slot), Number(l.pid));
    for (const pid of slots.values()) seenPids.add(pid);

    // Which worker accepts a connection is the kernel's choice: open held requests until both hold one.
    // The bound is a safety net; two workers on one socket both get one within a few connections.
    const holding = new Set<number>();
    const heldRequests: Promise<Outcome>[] = [];
    for (let i = 0; i < 200 && holding.size < 2; i++) {
      const from = keeper.lines.length;
      heldRequests.push(attempt(port, '/hold'));
      const line = await keeper.waitFor((l) => l.app === 'request held', 60_000, from);
      holding.add(Number(line.pid));
    }
    expect(holding).toEqual(new Set(slots.values()));

    keeper.signal('SIGTERM');
    await keeper.waitFor((l) => String(l.msg).startsWith('stopping'));
    for (const pid of slots.values())
      await keeper.waitFor((l) => l.app === 'still accepting' && l.pid === pid);
    const outcomes: Record<string, Promise<Outcome>> = {};
    outcomes['stop begun, both workers accepting'] = attempt(port);
    await outcomes['stop begun, both workers accepting'];

    fs.writeFileSync(`${accepting}-0`, '');
    await keeper.waitFor((l) => l.app === 'listeners closed' && l.pid === slots.get(0));
    outcomes['one worker still accepting'] = attempt(port);
    await outcomes['one worker still accepting'];

    fs.writeFileSync(`${accepting}-1`, '');
    await keeper.waitFor((l) => l.app === 'listeners closed' && l.pid === slots.get(1));
    // Nobody accepts any more, and nobody will: the socket must be gone, not left queueing connections
    // in the kernel until the keeper exits and they are reset. (Not awaited here: a connection that the
    // kernel queues would wait until the holds below are released.)
    outcomes['no worker accepting'] = attempt(port);

    fs.writeFileSync(release, '');
    expect((await keeper.exited).code).toBe(0);
    const seen = Object.fromEntries(
      await Promise.all(Object.entries(outcomes).map(async ([when, p]) => [when, await p] as const)),
    );
    expect(seen).toEqual({
      'stop begun, both workers accepting': 'served',
      'one worker still accepting': 'served',
      'no worker accepting': 'refused',
    });
    // The held requests finished: the drain served them.
    expect(await Promise.all(heldRequests)).toEqual(heldRequests.map(() => 'served'));
  });
});
