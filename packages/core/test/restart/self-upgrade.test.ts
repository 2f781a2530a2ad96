import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLameduck } from '../../src/index.js';
import { bindRestart } from '../../src/restart/self-upgrade.js';
import {
  appCommand,
  appPath,
  collectPids,
  get,
  killAfterEach,
  type Line,
  load,
  nodeArgs,
  Proc,
  tmpDir,
  writeConfig,
} from './helpers.js';

const seenPids = killAfterEach();

function track(p: Proc): void {
  collectPids(p, seenPids, ['pid', 'child']);
}

async function startApp(config: object) {
  const dir = tmpDir();
  const configFile = path.join(dir, 'app.json');
  const pidFile = path.join(dir, 'app.pid');
  const base = { selfUpgrade: true, pidFile, port: 0, host: '127.0.0.1', settle: 200, ...config };
  writeConfig(configFile, base);
  const app = new Proc(process.execPath, [...nodeArgs, appPath], { ...process.env, APP_CONFIG: configFile });
  track(app);
  const listening = await app.waitFor((l) => l.app === 'listening');
  const port = (listening.address as { port: number }).port;
  await waitForPidFile(pidFile, app.pid);
  return { app, port, pidFile, configFile, base };
}

/** The PID file is renamed into place by the process that takes over: wait for that event (bounded). */
async function waitForPidFile(pidFile: string, pid: number): Promise<void> {
  const names = () => {
    try {
      return Number(fs.readFileSync(pidFile, 'utf8')) === pid;
    } catch {
      return false;
    }
  };
  if (names()) return;
  await new Promise<void>((resolve, reject) => {
    const watcher = fs.watch(path.dirname(pidFile), () => {
      if (!names()) return;
      clearTimeout(limit);
      watcher.close();
      resolve();
    });
    const limit = setTimeout(() => {
      watcher.close();
      reject(new Error(`the PID file never named ${pid}`));
    }, 10_000);
    // The rename may have landed between the first check and the watch.
    if (names()) {
      clearTimeout(limit);
      watcher.close();
      resolve();
    }
  });
}

const isRestart = (text: string, from?: number) => (l: Line) =>
  l.app === 'restart' && String(l.msg).startsWith(text) && (from === undefined || l.pid === from);

describe('restart() (self-upgrade)', () => {
  it('restarts 20 times under keep-alive load without a failed request; the new code answers after', async () => {
    const { app, port, pidFile, configFile, base } = await startApp({ message: 'hello' });
    const traffic = load(port, ['hello\n', 'hello world\n']);
    let pid = app.pid;
    const pids = [pid];
    for (let i = 1; i <= 20; i++) {
      if (i === 20) writeConfig(configFile, { ...base, message: 'hello world' });
      const from = app.lines.length;
      process.kill(pid, 'SIGHUP');
      const took = await app.waitFor(isRestart('restart: the new process took over', pid), 60_000, from);
      expect(took.pid).toBe(pid);
      const started = app.lines.slice(from).find(isRestart('restart: started the new process', pid));
      const next = Number((started as { child?: number } | undefined)?.child ?? 0);
      expect(next).toBeGreaterThan(0);
      // The PID file follows the process that serves.
      await waitForPidFile(pidFile, next);
      pid = next;
      pids.push(pid);
    }
    const stats = await traffic.stop();
    expect(stats.errors).toEqual({});
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(200);
    expect(new Set(pids).size).toBe(21);
    const after = await get(port);
    expect(after.body).toBe('hello world\n');
    expect(after.pid).toBe(pid);
    process.kill(pid, 'SIGTERM');
    await app.closed;
    console.info(`self-upgrade restarts: ${stats.ok} requests, ${stats.failed} failed, ${pids.length} pids`);
  }, 300_000);

  // Each case is decided by what the new code does, never by how fast the machine is: the ready timeout
  // is a safety net except where it is the thing tested (never-ready), and the settle window is long
  // beside the 50 ms after which the exit-after-ready code dies.
  for (const [mode, reason, timing] of [
    ['throw', /exited with code 1 before ready/, { readyTimeout: 60_000 }],
    ['never-ready', /did not report ready within 8000 ms/, { readyTimeout: 8_000 }],
    ['exit-after-ready', /exited with code 3 \d+ ms after ready/, { readyTimeout: 60_000, settle: 5_000 }],
  ] as const) {
    it(`rolls back when the new code ${mode === 'throw' ? 'throws at start-up' : mode === 'never-ready' ? 'never reports ready' : 'exits right after ready'}`, async () => {
      const { app, port, configFile, base } = await startApp({ message: 'hello', ...timing });
      writeConfig(configFile, { ...base, message: 'broken', mode });
      const from = app.lines.length;
      app.signal('SIGHUP');
      const rolled = await app.waitFor(isRestart('restart rolled back', app.pid), 90_000, from);
      expect(String(rolled.msg)).toMatch(reason);
      // A child that listens but never reports ready serves meanwhile; the rollback drains it.
      const gone = await app.waitFor(
        isRestart('restart: the rolled-back process exited', app.pid),
        90_000,
        from,
      );
      expect(gone.child).toBe(rolled.child);
      const answer = await get(port);
      expect(answer).toMatchObject({ body: 'hello\n', pid: app.pid });
      // Still able to restart afterwards, into fixed code.
      writeConfig(configFile, { ...base, message: 'fixed' });
      app.signal('SIGHUP');
      await app.waitFor(isRestart('restart: the new process took over', app.pid), 90_000, from);
      expect((await app.exited).code).toBe(0);
      expect((await get(port)).body).toBe('fixed\n');
    }, 240_000);
  }
});

describe('restart() refusals', () => {
  it('is refused during a drain, while another restart runs, and without a socket to hand over', async () => {
    const lameduck = createLameduck({ signals: false, logger: false });
    await expect(lameduck.restart({ logger: false })).rejects.toMatchObject({
      code: 'LAMEDUCK_ERR_RESTART_UNSUPPORTED',
    });
    const server = http.createServer((_req, res) => res.end('x'));
    await lameduck.listen(server, { port: 0, host: '127.0.0.1' }, { autoReady: false });
    const never = [process.execPath, '-e', 'setTimeout(() => {}, 10000)'];
    const first = lameduck.restart({ command: never, readyTimeout: 500, exit: false, logger: false });
    await expect(lameduck.restart({ command: never, exit: false, logger: false })).rejects.toMatchObject({
      code: 'LAMEDUCK_ERR_RESTART_BUSY',
    });
    await expect(first).rejects.toMatchObject({ code: 'LAMEDUCK_ERR_RESTART_READY_TIMEOUT' });
    const report = lameduck.shutdown('test');
    await expect(lameduck.restart({ command: never, exit: false, logger: false })).rejects.toMatchObject({
      code: 'LAMEDUCK_ERR_RESTART_DRAINING',
    });
    await report;
    lameduck.dispose();
  });
});

describe('restart() in a process whose signals the lifecycle does not own', () => {
  it('hands over and drains without exiting the process', async () => {
    const lameduck = createLameduck({ signals: false, logger: false });
    const server = http.createServer((_req, res) => res.end('old\n'));
    const address = await lameduck.listen(server, { port: 0, host: '127.0.0.1' }, { autoReady: false });
    const port = (address as { port: number }).port;
    const dir = tmpDir();
    const config = path.join(dir, 'app.json');
    writeConfig(config, { message: 'new', port, host: '127.0.0.1' });
    const result = await lameduck.restart({
      command: appCommand,
      env: { ...process.env, APP_CONFIG: config },
      readyTimeout: 60_000,
      logger: false,
    });
    seenPids.add(result.pid);
    const report = await result.shutdown;
    expect(report.reason).toBe('restart');
    expect(report.exitCode).toBe(0);
    // Still here: the test process did not exit. The new process answers on the same port.
    expect(await get(port)).toMatchObject({ body: 'new\n', pid: result.pid });
    lameduck.dispose();
  });

  it('dispose() removes the signal listener of bindRestart()', () => {
    const before = process.listenerCount('SIGUSR2');
    const lameduck = createLameduck({ signals: false, logger: false });
    bindRestart(lameduck, { signal: 'SIGUSR2', logger: false });
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    lameduck.dispose();
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  });
});
