import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cli,
  collectPids,
  get,
  killAfterEach,
  type Proc,
  startKeeper,
  tmpDir,
  writeConfig,
} from './helpers.js';

const seenPids = killAfterEach();

function start(config: object, extra: readonly string[]) {
  const dir = tmpDir();
  const configFile = path.join(dir, 'app.json');
  const control = path.join(dir, 'control.sock');
  writeConfig(configFile, { name: 'http', ...config });
  const keeper = startKeeper(['--listen', 'http=127.0.0.1:0', '--control', control, ...extra], configFile);
  collectPids(keeper, seenPids);
  return { keeper, dir, control, configFile };
}

async function portOf(keeper: Proc): Promise<number> {
  const held = await keeper.msg('socket held');
  return Number(/:(\d+)$/.exec(String(held.address))?.[1]);
}

/** A reload asked for before the first generation serves is queued, never dropped. */
describe('a reload before the first generation serves', () => {
  it('SIGHUP in the --settle window runs once the first generation serves', async () => {
    // The settle window is what this case is about: long, so that the signal sent on "worker ready"
    // lands inside it (the order of the lines below checks that it did).
    const { keeper, configFile } = start({ message: 'one' }, ['--settle', '5s']);
    await keeper.msg('worker ready', (l) => l.gen === 1);
    writeConfig(configFile, { name: 'http', message: 'two' });
    keeper.signal('SIGHUP');
    await keeper.msg('reload queued: it runs once the first generation serves');
    const serving = keeper.lines.findIndex((l) => l.msg === 'generation serving');
    expect(serving).toBe(-1);
    await keeper.msg('reload done', (l) => l.gen === 2);
    // Until the first generation has drained, it shares the listening socket and may take a request.
    await keeper.msg('generation drained', (l) => l.gen === 1);
    const port = await portOf(keeper);
    expect((await get(port)).body).toBe('two\n');
    expect(keeper.lines.filter((l) => l.msg === 'reload started').map((l) => l.requests)).toEqual([1]);
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });

  it('`lameduck reload` waits for the first generation, then reloads and reports the outcome', async () => {
    const dir = tmpDir();
    const release = path.join(dir, 'release');
    const { keeper, control, configFile } = start({ message: 'one', holdUntil: release }, [
      '--settle',
      '100ms',
    ]);
    await keeper.waitFor((l) => l.app === 'holding');
    let answered = false;
    const reload = cli(['reload', '--control', control]).then((r) => {
      answered = true;
      return r;
    });
    // A second request while the first waits: both share one reload, as reloads during a reload do.
    const second = cli(['reload', '--control', control]);
    await keeper.msg('reload queued: it runs once the first generation serves', (l) => l.waiting === 2);
    expect(answered).toBe(false);
    writeConfig(configFile, { name: 'http', message: 'two' });
    fs.writeFileSync(release, '');
    const [r, r2] = await Promise.all([reload, second]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('reloaded: generation 2 serving\n');
    expect(r2.code).toBe(0);
    const order = keeper.lines
      .map((l) => l.msg)
      .filter((m) => m === 'generation serving' || m === 'reload started');
    expect(order).toEqual(['generation serving', 'reload started', 'generation serving']);
    expect(keeper.lines.find((l) => l.msg === 'reload started')?.requests).toBe(2);
    await keeper.msg('generation drained', (l) => l.gen === 1);
    expect((await get(await portOf(keeper))).body).toBe('two\n');
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });

  it('is answered, not dropped, when the first generation never serves', async () => {
    // The worker holds its start-up for good: the ready timeout (the thing tested) ends the keeper. It
    // is long beside what the two requests need to arrive.
    const dir = tmpDir();
    const { keeper, control } = start({ message: 'one', holdUntil: path.join(dir, 'never') }, [
      '--ready-timeout',
      '10s',
    ]);
    await keeper.waitFor((l) => l.app === 'holding');
    const reload = cli(['reload', '--control', control]);
    await keeper.msg('reload queued: it runs once the first generation serves', (l) => l.waiting === 1);
    keeper.signal('SIGHUP');
    await keeper.msg('reload queued: it runs once the first generation serves', (l) => l.waiting === 2);
    const r = await reload;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^reload not run: the first generation never served/);
    expect((await keeper.exited).code).toBe(4);
    expect(
      keeper.lines.find((l) => l.msg === 'queued reloads not run: the first generation never served'),
    ).toMatchObject({ waiting: 2 });
  });
});
