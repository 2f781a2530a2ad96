// PID 1 of a PID namespace, the way a container runs its first process: `unshare --pid --fork
// --mount-proc` makes a fresh namespace whose PID 1 is the command (root only, as in CI). The kernel
// gives PID 1 no default signal actions and re-parents every orphan to it; these tests show what that
// means for the keeper and for a plain `node server.js`, and run the Docker example's ENTRYPOINT and CMD.
// `docker stop` and `docker kill -s HUP` signal PID 1 from outside the namespace: here, its host PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectPids, get, killAfterEach, load, Proc, tmpDir, writeConfig } from './helpers.js';
import {
  appDir,
  canUnshare,
  dockerExec,
  dockerfilePath,
  findProcess,
  freePort,
  mapPaths,
  namespaceInit,
  processState,
  sourceNodeOptions,
  until,
} from './launch.js';

const seenPids = killAfterEach();

interface Container {
  unshare: Proc;
  /** The host PID of the namespace's PID 1. */
  init: number;
  app: string;
  port: number;
  fifo: string;
  release: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Starts `command` as PID 1 of a fresh PID namespace, in an app directory whose server.js is the
 * fixture app: it listens on the keeper's socket (or binds the port alone), starts an orphan that
 * exits when the test writes to a FIFO, and holds requests for /hold until the test releases them.
 */
async function container(command: (port: number) => string[]): Promise<Container> {
  const root = tmpDir();
  const app = appDir(root, 'fixture');
  const port = await freePort();
  const fifo = path.join(root, 'orphan.fifo');
  const release = path.join(root, 'release');
  await new Promise((resolve, reject) =>
    spawn('mkfifo', [fifo]).on('exit', (code) => (code === 0 ? resolve(code) : reject(new Error('mkfifo')))),
  );
  const config = path.join(root, 'app.json');
  // '::' is what `--listen 8080` binds (every interface); alone, the fixture binds it too.
  writeConfig(config, {
    message: 'hello',
    port,
    host: '::',
    orphan: fifo,
    hold: release,
    drainTimeout: 60_000,
  });
  const env = { ...process.env, NODE_OPTIONS: sourceNodeOptions(), TMPDIR: root, APP_CONFIG: config };
  const unshare = new Proc('unshare', ['--pid', '--fork', '--mount-proc', ...command(port)], env, [], app);
  collectPids(unshare, seenPids);
  // The app listens (alone, or as the keeper's worker): PID 1 and whatever it started are up.
  await unshare.waitFor((l) => l.app === 'listening');
  return { unshare, init: namespaceInit(unshare), app, port, fifo, release, env };
}

/** Lets the orphan exit; resolves with what became of it: reaped (gone) or a zombie. */
async function orphanFate(c: Container, reaped: boolean): Promise<'reaped' | 'zombie'> {
  const pid = await until('the orphan runs', () => findProcess(`cat\0${c.fifo}`));
  const parent = /PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  // Its shell exited at once: the orphan belongs to PID 1 of the namespace now.
  expect(Number(parent)).toBe(c.init);
  fs.writeFileSync(c.fifo, 'exit\n');
  // A reaper removes the exited orphan at once; without one it stays a zombie (Z) for good. Either
  // way the state settles; the wait is bounded as a safety net only.
  return until('the orphan exited', () => {
    const state = processState(pid);
    if (state === undefined) return 'reaped';
    return state === 'Z' && !reaped ? 'zombie' : undefined;
  });
}

/** A request held in flight, then SIGTERM to PID 1 from outside (docker stop): the drain serves it. */
async function stopDrains(c: Container): Promise<number | null> {
  const from = c.unshare.lines.length;
  const held = get(c.port, undefined, '/hold');
  await c.unshare.waitFor((l) => l.app === 'request held', 60_000, from);
  process.kill(c.init, 'SIGTERM');
  await c.unshare.waitFor((l) => l.app === 'listeners closed', 60_000, from);
  fs.writeFileSync(c.release, '');
  expect(await held).toMatchObject({ status: 200, body: 'hello\n' });
  return (await c.unshare.exited).code;
}

describe.skipIf(!canUnshare())('as PID 1 of a PID namespace (a container)', () => {
  it('the Docker example: tini is PID 1, reloads lose no request, the orphan is reaped, docker stop exits 0', async () => {
    const dockerfile = fs.readFileSync(dockerfilePath, 'utf8');
    const command = (port: number) =>
      [...dockerExec(dockerfile, 'ENTRYPOINT'), ...dockerExec(dockerfile, 'CMD')].map((w) =>
        mapPaths(w, { '8080': String(port) }),
      );
    const c = await container(command);
    await c.unshare.msg('generation serving');
    const started = await c.unshare.msg('keeper started');
    // tini is PID 1 and the keeper its child: no PID 1 warning from the keeper.
    expect(started.keeper).not.toBe(1);
    expect(c.unshare.lines.some((l) => String(l.msg).includes('is PID 1'))).toBe(false);
    expect(await orphanFate(c, true)).toBe('reaped');

    const traffic = load(c.port, ['hello\n']);
    await traffic.until(100);
    // docker kill -s HUP: SIGHUP to PID 1, which tini passes on to the keeper.
    process.kill(c.init, 'SIGHUP');
    await c.unshare.msg('reload done', (l) => l.gen === 2);
    // docker exec <container> node_modules/.bin/lameduck reload: the same binary, the same default
    // control socket (<tmpdir>/lameduck-<uid>.sock).
    const reload = new Proc('node_modules/.bin/lameduck', ['reload'], c.env, [], c.app);
    expect((await reload.exited).code, reload.output).toBe(0);
    await c.unshare.msg('generation drained', (l) => l.gen === 2);
    const stats = await traffic.stop();
    expect(stats.errors).toEqual({});
    expect(stats.ok).toBeGreaterThan(100);

    expect(await stopDrains(c)).toBe(0);
    expect(c.unshare.lines.find((l) => l.msg === 'keeper exiting')).toMatchObject({ code: 0 });
  });

  it('the keeper itself as PID 1 drains on SIGTERM (exit 0) but leaves orphans zombies: why tini', async () => {
    const c = await container((port) => [
      'node_modules/.bin/lameduck',
      'run',
      '--listen',
      String(port),
      '--',
      'node',
      'server.js',
    ]);
    await c.unshare.msg('generation serving');
    expect((await c.unshare.msg('keeper started')).keeper).toBe(1);
    await c.unshare.msg(
      'the keeper is PID 1: orphaned processes will not be reaped; run it under an init such as tini (docker run --init)',
    );
    expect(await orphanFate(c, false)).toBe('zombie');
    expect(await stopDrains(c)).toBe(0);
  });

  for (const tini of [false, true]) {
    it(`a plain node server.js with @lameduck/core as PID 1${tini ? ' under tini' : ''}: SIGTERM drains (exit 0); the orphan is ${tini ? 'reaped' : 'left a zombie'}`, async () => {
      const c = await container(() => [...(tini ? ['/usr/bin/tini', '--'] : []), 'node', 'server.js']);
      expect(await orphanFate(c, tini)).toBe(tini ? 'reaped' : 'zombie');
      expect(await stopDrains(c)).toBe(0);
    });
  }
});
