import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, type JsonLine, sourceArgs } from '@lameduck/testkit';
import { afterEach } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
export const coreDir = path.resolve(here, '../..');
export const appPath = path.join(here, 'fixtures/app.ts');
/** How every process of the suite runs TypeScript sources. */
export const nodeArgs: readonly string[] = sourceArgs;
export const appCommand = [process.execPath, ...nodeArgs, appPath];

export type Line = JsonLine;

/**
 * A child process of the suite: the kit's {@link Child}, always started in a process group of its own
 * (so that {@link killAll} ends it and whatever it started), whose stderr JSON lines are awaited with a
 * bound.
 */
export class Proc extends Child {
  constructor(
    file: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    stdio: (number | 'pipe' | 'ignore')[] = [],
    cwd = coreDir,
  ) {
    super(file, args, { env, cwd, detached: true, extraStdio: stdio });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** The node process handle (the kit's `process`). */
  get child(): ChildProcess {
    return this.process;
  }

  /** Resolves with the first line (from `from` on) that matches; rejects after `ms` with the output so far. */
  waitFor(match: (l: Line) => boolean, ms = 60_000, from = 0): Promise<Line> {
    return this.json(match, { from, ms });
  }

  msg(text: string, extra: (l: Line) => boolean = () => true, ms?: number, from = 0): Promise<Line> {
    return this.waitFor((l) => l.msg === text && extra(l), ms, from);
  }
}

const running = new Set<Proc>();

/** Kills every process group the suite started and is still running (afterEach / afterAll). */
export async function killAll(): Promise<void> {
  const all = [...running];
  for (const p of all) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {}
  }
  await Promise.all(all.map((p) => p.exited));
}

/** Kills process groups of workers whose PIDs a test saw (they run in groups of their own). */
export function killPids(pids: Iterable<number>): void {
  for (const pid of pids) {
    // process.kill(-1) would signal every process we may signal; PID 1 is a namespace's init, not ours.
    if (pid <= 1) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
}

/**
 * Registers an `afterEach` that kills every process group the suite started ({@link killAll}), then the
 * groups of the PIDs put in the returned set during the test ({@link killPids}): workers a test saw.
 */
export function killAfterEach(): Set<number> {
  const seen = new Set<number>();
  afterEach(async () => {
    await killAll();
    killPids(seen);
    seen.clear();
  });
  return seen;
}

/** Adds to `seen`, as `p` logs them, the numbers its JSON lines carry under `keys` (worker PIDs). */
export function collectPids(p: Proc, seen: Set<number>, keys: readonly string[] = ['pid']): Proc {
  p.child.stderr?.on('data', () => {
    for (const l of p.lines) {
      for (const key of keys) {
        const pid = l[key];
        if (typeof pid === 'number') seen.add(pid);
      }
    }
  });
  return p;
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-restart-'));
}

export function writeConfig(file: string, config: object): void {
  fs.writeFileSync(file, JSON.stringify(config));
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `command` under Debian's systemd-socket-activate, which passes sockets exactly as systemd does
 * (descriptors from 3, LISTEN_FDS, LISTEN_FDNAMES=web, LISTEN_PID set between fork and exec) and starts
 * the command on the first connection. Resolves once the launcher listens, with the fixture app's
 * `config` in APP_CONFIG. PIDs the launched processes print go into `seen`.
 */
export async function socketActivate(
  command: readonly string[],
  config: object,
  seen: Set<number>,
): Promise<{ launcher: Proc; port: number }> {
  const dir = tmpDir();
  const configFile = path.join(dir, 'app.json');
  writeConfig(configFile, config);
  const port = await freePort();
  const launcher = new Proc(
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '--fdname=web', '-E', `APP_CONFIG=${configFile}`, '-E', 'PATH', ...command],
    { ...process.env },
  );
  collectPids(launcher, seen);
  // It reports "Listening on ..." on stderr before it takes connections.
  await new Promise<void>((resolve) => {
    const check = () => (launcher.output.includes('Listening on') ? resolve() : undefined);
    launcher.child.stderr?.on('data', check);
    check();
  });
  return { launcher, port };
}

export function get(
  port: number,
  agent?: http.Agent,
  urlPath = '/',
): Promise<{ status: number; body: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        if (!res.complete) reject(new Error('truncated body'));
        else resolve({ status: res.statusCode ?? 0, body, pid: Number(res.headers['x-pid']) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export interface LoadStats {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  bodies: Record<string, number>;
  pids: Set<number>;
}

/**
 * Continuous keep-alive load: `concurrency` loops, each sending its next request as soon as the last
 * one is answered, over a keep-alive agent. A failure is any error (reset, refusal), a status other
 * than 200, or a body that is incomplete or not one of `bodies`.
 */
export function load(port: number, bodies: readonly string[], concurrency = 6) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const stats: LoadStats = { ok: 0, failed: 0, errors: {}, bodies: {}, pids: new Set() };
  let running = true;
  // Bounded on its own, even if a test dies before calling stop(): 120 s or 500 000 requests.
  const stopAt = performance.now() + 120_000;
  let waiters: { n: number; resolve: () => void }[] = [];
  const fail = (why: string) => {
    stats.failed++;
    stats.errors[why] = (stats.errors[why] ?? 0) + 1;
  };
  const loop = async () => {
    while (running && performance.now() < stopAt && stats.ok + stats.failed < 500_000) {
      try {
        const r = await get(port, agent);
        if (r.status !== 200) fail(`status ${r.status}`);
        else if (!bodies.includes(r.body)) fail(`body ${JSON.stringify(r.body)}`);
        else {
          stats.ok++;
          stats.bodies[r.body] = (stats.bodies[r.body] ?? 0) + 1;
          stats.pids.add(r.pid);
          for (const w of waiters.filter((w) => stats.ok >= w.n)) w.resolve();
          waiters = waiters.filter((w) => stats.ok < w.n);
        }
      } catch (error) {
        fail((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stats,
    /** Resolves once `n` requests succeeded. */
    until(n: number): Promise<void> {
      if (stats.ok >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async stop(): Promise<LoadStats> {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}
