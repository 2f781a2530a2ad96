// The ways of restarting a server that bench/restart sets side by side, each running app.ts on one port
// of 127.0.0.1 with one worker process.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, onCleanup, root, run, runSync, spawnChild, spawnTs, tsNode } from '../child.js';
import type { EventLog } from './events.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const appFile = path.join(here, 'app.ts');
const lameduckBin = path.join(root, 'packages/keeper/src/bin/lameduck.ts');
const pm2Bin = path.join(root, 'node_modules/pm2/bin/pm2');
/** pm2's default kill_timeout: how long pm2 waits after SIGINT before SIGKILL. The naive way waits as long. */
export const KILL_AFTER_MS = 1_600;

export const methods = ['keeper', 'self-upgrade', 'pm2', 'naive'] as const;
export type MethodName = (typeof methods)[number];

export const describedMethods: Record<MethodName, string> = {
  keeper: '`lameduck run` (keeper, 1 worker) + `lameduck reload`; shutdown: SIGTERM to the keeper',
  'self-upgrade': '`bindRestart()`: SIGHUP to the process; shutdown: SIGTERM to the process that serves',
  pm2: '`pm2 reload` (cluster mode, 1 instance, defaults) of a server that calls `server.close()` on SIGINT; shutdown: `pm2 stop`',
  naive: `SIGTERM (\`server.close()\`), SIGKILL after ${KILL_AFTER_MS} ms, then start the new process; shutdown: the same stop`,
};

export interface RestartMethod {
  /** Resolves once the first process serves. */
  start(): Promise<void>;
  /** One restart; resolves when the method itself says it is done. */
  restart(): Promise<void>;
  /** Stops serving for good; resolves once every process is gone. */
  stop(): Promise<void>;
  /** Kills whatever is left, at once (synchronous: also runs from the exit handler). */
  dispose(): void;
}

export interface MethodContext {
  port: number;
  /** A fresh temporary directory of this run. */
  dir: string;
  events: EventLog;
}

function appEnv(mode: string, ctx: MethodContext): NodeJS.ProcessEnv {
  return { ...process.env, BENCH_MODE: mode, BENCH_EVENTS: ctx.events.file, PORT: String(ctx.port) };
}

/** PIDs that listened and have not exited. */
function alive(events: EventLog): number[] {
  const gone = new Set(events.events.filter((e) => e.event === 'exiting').map((e) => e.pid));
  return events.listening().filter((pid) => !gone.has(pid));
}

function firstListening(ctx: MethodContext, except: readonly number[] = []): Promise<unknown> {
  return ctx.events.wait((e) => e.event === 'listening' && !except.includes(e.pid), 'process listening');
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

/** SIGTERM, then SIGKILL after `killAfter` ms; resolves once the process exited. */
async function stopChild(child: Child, killAfter: number): Promise<void> {
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.kill(), killAfter);
  await child.exited;
  clearTimeout(timer);
}

function keeper(ctx: MethodContext): RestartMethod {
  const control = path.join(ctx.dir, 'control.sock');
  const [node = process.execPath, ...flags] = tsNode;
  const child = spawnChild(
    node,
    [
      ...flags,
      lameduckBin,
      'run',
      '--listen',
      `127.0.0.1:${ctx.port}`,
      '--control',
      control,
      '--',
      ...tsNode,
      appFile,
    ],
    { env: appEnv('keeper', ctx) },
  );
  return {
    start: () => firstListening(ctx).then(() => undefined),
    restart: async () => {
      await run(node, [...flags, lameduckBin, 'reload', '--control', control]);
    },
    stop: () => stopChild(child, 20_000),
    dispose: () => {
      child.kill();
      for (const pid of alive(ctx.events)) killPid(pid, 'SIGKILL');
    },
  };
}

function selfUpgrade(ctx: MethodContext): RestartMethod {
  const first = spawnTs(appFile, [], { env: appEnv('self-upgrade', ctx) });
  const exited = (pid: number) =>
    ctx.events.wait((e) => e.event === 'exiting' && e.pid === pid, `exit of ${pid}`);
  return {
    start: () => firstListening(ctx).then(() => undefined),
    restart: async () => {
      const [old] = alive(ctx.events);
      if (old === undefined) throw new Error('self-upgrade: no process serves');
      killPid(old, 'SIGHUP');
      // The new process took over once the old one drains.
      await ctx.events.wait((e) => e.event === 'draining' && e.pid === old, `drain of ${old}`);
    },
    stop: async () => {
      const pids = alive(ctx.events);
      for (const pid of pids) killPid(pid, 'SIGTERM');
      await Promise.all(pids.map(exited));
    },
    dispose: () => {
      first.kill();
      for (const pid of alive(ctx.events)) killPid(pid, 'SIGKILL');
    },
  };
}

function pm2(ctx: MethodContext): RestartMethod {
  const env = { ...process.env, PM2_HOME: path.join(ctx.dir, 'pm2') };
  const ecosystem = path.join(ctx.dir, 'ecosystem.json');
  const app = {
    name: 'bench',
    script: path.join(here, 'pm2-app.mjs'),
    exec_mode: 'cluster',
    instances: 1,
    node_args: ['--conditions=@lameduck/source'],
    cwd: root,
    env: { BENCH_MODE: 'naive', BENCH_EVENTS: ctx.events.file, PORT: String(ctx.port) },
  };
  fs.writeFileSync(ecosystem, JSON.stringify({ apps: [app] }));
  const pm2Cli = (args: string[]) => run(process.execPath, [pm2Bin, ...args], { env });
  // The daemon is nobody's child: `pm2 kill` always, even when the benchmark fails or is interrupted.
  const kill = onCleanup(() => runSync(process.execPath, [pm2Bin, 'kill'], { env }));
  return {
    start: async () => {
      await pm2Cli(['start', ecosystem]);
      await firstListening(ctx);
    },
    restart: async () => {
      await pm2Cli(['reload', 'bench']);
    },
    stop: async () => {
      await pm2Cli(['stop', 'bench']);
    },
    dispose: kill,
  };
}

function naive(ctx: MethodContext): RestartMethod {
  let current = spawnTs(appFile, [], { env: appEnv('naive', ctx) });
  return {
    start: () => firstListening(ctx).then(() => undefined),
    restart: async () => {
      const old = current.process.pid ?? 0;
      await stopChild(current, KILL_AFTER_MS);
      current = spawnTs(appFile, [], { env: appEnv('naive', ctx) });
      await firstListening(ctx, [old]);
    },
    stop: () => stopChild(current, KILL_AFTER_MS),
    dispose: () => current.kill(),
  };
}

export function createMethod(name: MethodName, ctx: MethodContext): RestartMethod {
  switch (name) {
    case 'keeper':
      return keeper(ctx);
    case 'self-upgrade':
      return selfUpgrade(ctx);
    case 'pm2':
      return pm2(ctx);
    case 'naive':
      return naive(ctx);
  }
}
