import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, get, killAfterEach, load, type Proc, startKeeper, tmpDir, writeConfig } from './helpers.js';

const seenPids = killAfterEach();

interface Started {
  keeper: Proc;
  port: number;
  control: string;
  config: string;
}

async function start(
  config: object,
  extra: readonly string[] = [],
  listen = 'http=127.0.0.1:0',
): Promise<Started> {
  const dir = tmpDir();
  const configFile = path.join(dir, 'app.json');
  const control = path.join(dir, 'control.sock');
  writeConfig(configFile, { name: 'http', ...config });
  const keeper = startKeeper(
    ['--listen', listen, '--control', control, '--settle', '200ms', '--drain-timeout', '5s', ...extra],
    configFile,
  );
  const held = await keeper.msg('socket held');
  await keeper.msg('generation serving');
  const port = Number(/:(\d+)$/.exec(String(held.address))?.[1]);
  for (const l of keeper.lines) if (typeof l.pid === 'number') seenPids.add(l.pid);
  return { keeper, port, control, config: configFile };
}

/** The body of one GET on a new connection (a unix socket or an IPv6 address: `get` speaks 127.0.0.1). */
function bodyOf(options: http.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(options, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function reloadsDone(keeper: Proc): number {
  return keeper.lines.filter((l) => l.msg === 'reload done').length;
}

describe('lameduck run (the keeper)', () => {
  it('reloads 20 times under keep-alive load without a failed request; the new code answers after', async () => {
    const { keeper, port, control, config } = await start({ message: 'hello' });
    expect((await get(port)).body).toBe('hello\n');
    const traffic = load(port, ['hello\n', 'hello world\n']);
    for (let i = 1; i <= 20; i++) {
      if (i === 20) writeConfig(config, { name: 'http', message: 'hello world' });
      const r = await cli(['reload', '--control', control]);
      expect(r.code, r.stderr).toBe(0);
    }
    // The last old generation finishes draining while the load goes on.
    await keeper.msg('generation drained', (l) => l.gen === 20);
    const stats = await traffic.stop();
    expect(stats.errors).toEqual({});
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(200);
    expect(reloadsDone(keeper)).toBe(20);
    expect((await get(port)).body).toBe('hello world\n');
    // One keeper PID throughout; every line was written by it.
    expect(new Set(keeper.lines.filter((l) => l.msg).map((l) => l.keeper))).toEqual(new Set([keeper.pid]));
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
    console.info(
      `keeper reloads: ${stats.ok} requests, ${stats.failed} failed, ${stats.pids.size} worker pids`,
    );
  }, 300_000);

  // Each case is decided by what the new code does, never by how fast the machine is: the ready timeout
  // is a safety net except where it is the thing tested (never-ready), and the settle window is long
  // beside the 50 ms after which the exit-after-ready code dies.
  for (const [mode, reason, extra] of [
    ['throw', /exited with code 1 before it talked to the keeper/, ['--ready-timeout', '60s']],
    ['never-ready', /not ready within 8000 ms/, ['--ready-timeout', '8s']],
    [
      'exit-after-ready',
      /exited with code 3 \d+ ms after ready/,
      ['--ready-timeout', '60s', '--settle', '5s'],
    ],
  ] as const) {
    it(`rolls back when the new code ${mode === 'throw' ? 'throws at start-up' : mode === 'never-ready' ? 'never reports ready' : 'exits right after ready'}`, async () => {
      const { keeper, port, control, config } = await start({ message: 'hello' }, extra);
      writeConfig(config, { name: 'http', message: 'broken', mode });
      const r = await cli(['reload', '--control', control]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(reason);
      const rolled = await keeper.msg('reload rolled back; the old generation keeps serving');
      expect(rolled.serving).toBe(1);
      // A new worker that listens but never reports ready serves meanwhile (it accepts from the moment it
      // listens); the rollback drains it. Once it is stopped, only the old generation answers.
      await keeper.msg('failed generation stopped');
      expect((await get(port)).body).toBe('hello\n');
      const status = JSON.parse((await cli(['status', '--control', control, '--json'])).stdout);
      expect(status.keeper.reloads).toEqual({ done: 0, rolledBack: 1 });
      expect(status.generations.map((g: { id: number }) => g.id)).toEqual([1]);
      keeper.signal('SIGTERM');
      expect((await keeper.exited).code).toBe(0);
    });
  }

  it('coalesces reloads requested during a reload into one', async () => {
    const { keeper, control, config } = await start({ message: 'hello' });
    // The first reload's worker holds its start-up until the test lets it go, so the other three
    // requests are certain to arrive while that reload runs.
    const release = path.join(path.dirname(config), 'release');
    writeConfig(config, { name: 'http', message: 'hello', holdUntil: release });
    const first = cli(['reload', '--control', control]);
    await keeper.waitFor((l) => l.app === 'holding');
    const others = [2, 3, 4].map(() => cli(['reload', '--control', control]));
    await keeper.msg('reload requested; coalesced with the next one', (l) => l.waiting === 3);
    fs.writeFileSync(release, '');
    const results = await Promise.all([first, ...others]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    // The first runs alone; the three that arrived during it share the next one.
    expect(reloadsDone(keeper)).toBe(2);
    expect(keeper.lines.filter((l) => l.msg === 'reload started').map((l) => l.requests)).toEqual([1, 3]);
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });

  it('replaces a crashed worker without refusing a connection', async () => {
    const { keeper, port } = await start({ message: 'hello' });
    const traffic = load(port, ['hello\n']);
    const first = (await get(port)).pid;
    // Keep-alive sockets are busy when the worker dies.
    await traffic.until(200);
    process.kill(first, 'SIGKILL');
    const started = await keeper.msg('worker started', (l) => l.gen === 1 && l.pid !== first);
    seenPids.add(Number(started.pid));
    await keeper.msg('worker ready', (l) => l.pid === started.pid);
    const after = await get(port);
    expect(after.pid).toBe(started.pid);
    const stats = await traffic.stop();
    // Requests in flight on the killed worker die with it (SIGKILL); no connection is refused.
    expect(stats.errors.ECONNREFUSED ?? 0).toBe(0);
    expect(stats.ok).toBeGreaterThan(0);
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });

  it('serves from both workers with --workers 2, and status shows them', async () => {
    const { keeper, port, control } = await start({ message: 'hello' }, ['--workers', '2']);
    const workers = new Set(keeper.lines.filter((l) => l.msg === 'worker ready').map((l) => l.pid));
    expect(workers.size).toBe(2);
    // Which worker accepts a new connection is the kernel's choice: dial anew until both answered.
    // The bound is a safety net; two ready workers on one socket both answer within a few connections.
    const seen = new Set<number>();
    for (let i = 0; i < 2_000 && seen.size < 2; i++) {
      const r = await get(port);
      expect(r.status).toBe(200);
      seen.add(r.pid);
    }
    expect(seen).toEqual(workers);
    const status = await cli(['status', '--control', control]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/worker 0 {2}pid \d+ {2}ready/);
    expect(status.stdout).toMatch(/worker 1 {2}pid \d+ {2}ready/);
    keeper.signal('SIGINT');
    expect((await keeper.exited).code).toBe(0);
  });

  it('gives up a slot whose replacements keep failing and exits 5 when nothing can serve', async () => {
    const { keeper, port, config } = await start({ message: 'hello' });
    const first = (await get(port)).pid;
    writeConfig(config, { name: 'http', message: 'broken', mode: 'throw' });
    process.kill(first, 'SIGKILL');
    await keeper.msg('worker slot given up: its replacements keep failing');
    expect(keeper.lines.filter((l) => l.msg === 'worker restart scheduled').map((l) => l.inMs)).toEqual([
      100, 200, 400, 800, 1600,
    ]);
    expect((await keeper.exited).code).toBe(5);
  });

  it('workers drain and exit when the keeper dies (the lifeline)', async () => {
    const { keeper, port } = await start({ message: 'hello' }, ['--workers', '2']);
    const pids = keeper.lines.filter((l) => l.msg === 'worker ready').map((l) => Number(l.pid));
    expect((await get(port)).body).toBe('hello\n');
    process.kill(keeper.pid, 'SIGKILL');
    // The workers share the keeper's stderr: it closes once both drained and exited.
    await keeper.closed;
    const drained = keeper.lines.filter((l) => l.app === 'draining').map((l) => Number(l.pid));
    expect(drained.sort()).toEqual(pids.sort());
  });

  it('binds IPv6 and unix socket addresses', async () => {
    const dir = tmpDir();
    const socketPath = path.join(dir, 'app.sock');
    const unix = await start({ message: 'over unix' }, [], `http=${socketPath}`);
    expect(await bodyOf({ socketPath, path: '/' })).toBe('over unix\n');
    unix.keeper.signal('SIGTERM');
    expect((await unix.keeper.exited).code).toBe(0);
    expect(fs.existsSync(socketPath)).toBe(false);

    const v6 = await start({ message: 'over ipv6' }, [], 'http=[::1]:0');
    const held = await v6.keeper.msg('socket held');
    expect(String(held.address)).toMatch(/^\[::1\]:\d+$/);
    expect(await bodyOf({ host: '::1', port: v6.port, path: '/' })).toBe('over ipv6\n');
    v6.keeper.signal('SIGTERM');
    expect((await v6.keeper.exited).code).toBe(0);
  });

  it('exit codes: usage 2, unbindable 3, never ready 4, clean stop 0, second signal 128+N', async () => {
    expect((await cli(['run', '--workers', 'many', '--', 'node'])).code).toBe(2);
    expect((await cli(['run', '--listen', '127.0.0.1:0'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['reload', '--control', path.join(tmpDir(), 'none.sock')])).code).toBe(3);

    const { keeper, port } = await start({ message: 'hello' });
    const busy = startKeeper(
      ['--listen', `127.0.0.1:${port}`, '--control', path.join(tmpDir(), 'c.sock')],
      'x',
    );
    expect((await busy.exited).code).toBe(3);

    const dir = tmpDir();
    writeConfig(path.join(dir, 'bad.json'), { name: 'http', message: 'x', mode: 'throw' });
    const never = startKeeper(
      ['--listen', 'http=127.0.0.1:0', '--control', path.join(dir, 'c.sock')],
      path.join(dir, 'bad.json'),
    );
    expect((await never.exited).code).toBe(4);

    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);

    // A drain that takes long (a 10 s request in flight): the second signal kills it.
    const slow = await start({ message: 'slow', delay: 10_000 });
    const pending = get(slow.port).catch((error: Error) => error);
    await slow.keeper.waitFor((l) => l.app === 'request');
    slow.keeper.signal('SIGTERM');
    await slow.keeper.msg('generation draining');
    slow.keeper.signal('SIGTERM');
    expect((await slow.keeper.exited).code).toBe(143);
    expect(await pending).toBeInstanceOf(Error);
  });
});
