import type net from 'node:net';
import os from 'node:os';
import { type Address, clearListenEnv, parseListenEnv, systemdNotify } from '@lameduck/core/protocol';
import { openAdminSocket } from './admin-socket.js';
import { UsageError } from './cli-usage.js';
import type { KeeperLog } from './log.js';
import {
  bindAddress,
  type HeldSocket,
  holdInherited,
  listenWithoutAccepting,
  releaseSockets,
  socketLabel,
} from './sockets.js';
import { Keeper, KeeperExit } from './supervisor.js';

export interface RunOptions {
  command: readonly string[];
  listen: readonly { name: string; address: Address }[];
  workers: number;
  readyTimeout: number;
  drainTimeout: number;
  settle: number;
  maxDraining: number;
  controlPath: string;
  env: NodeJS.ProcessEnv;
  log: KeeperLog;
}

/** The sockets: systemd's first (the keeper is the process systemd started), then the `--listen` ones. */
async function takeSockets(o: RunOptions): Promise<HeldSocket[]> {
  const sockets: HeldSocket[] = [];
  try {
    for (const f of parseListenEnv(o.env, process.pid)) sockets.push(holdInherited(f.fd, f.name));
    clearListenEnv(o.env);
    const bound: HeldSocket[] = [];
    for (const spec of o.listen) bound.push(await bindAddress(spec.address, spec.name));
    sockets.push(...bound);
    if (bound.length > 0) await listenWithoutAccepting(bound);
  } catch (error) {
    releaseSockets(sockets);
    throw error;
  }
  return sockets;
}

/** `lameduck run`: takes the sockets, starts the keeper and its admin socket, maps signals; resolves the exit code. */
export async function runKeeper(o: RunOptions): Promise<number> {
  const { log } = o;
  let sockets: HeldSocket[];
  try {
    sockets = await takeSockets(o);
  } catch (error) {
    log('error', 'could not take the listening sockets', { error: (error as Error).message });
    return KeeperExit.STARTUP;
  }
  if (sockets.length === 0)
    throw new UsageError(
      'nothing to listen on: give --listen, for example --listen :8080, or run under systemd socket activation',
      'run',
    );
  for (const s of sockets) {
    // An unnamed socket is "unknown" in LISTEN_FDNAMES (systemd's word for it); logs show its address.
    const name = s.name === 'unknown' ? {} : { name: s.name };
    log('info', 'socket held', {
      socket: socketLabel(s),
      ...name,
      address: s.address,
      origin: s.origin,
      fd: s.fd,
    });
  }
  if (process.pid === 1) {
    // The kernel gives PID 1 no default signal actions (the keeper handles its own) and makes it the
    // parent of every orphan, which node cannot reap: see docs/restart.md, Docker.
    log(
      'warn',
      'the keeper is PID 1: orphaned processes will not be reaped; run it under an init such as tini (docker run --init)',
    );
  }

  const keeper = new Keeper({
    command: o.command,
    sockets,
    workers: o.workers,
    readyTimeout: o.readyTimeout,
    drainTimeout: o.drainTimeout,
    settle: o.settle,
    maxDraining: o.maxDraining,
    env: o.env,
    log,
    onServing: () => {
      if (o.env.NOTIFY_SOCKET) void systemdNotify(['--ready', `--pid=${process.pid}`], o.env);
    },
  });

  let control: net.Server;
  try {
    control = await openAdminSocket(o.controlPath, keeper);
  } catch (error) {
    log('error', 'control socket unavailable', { path: o.controlPath, error: (error as Error).message });
    releaseSockets(sockets);
    return KeeperExit.STARTUP;
  }
  log('info', 'keeper started', { control: o.controlPath, workers: o.workers, command: o.command });

  let stopped: ((code: number) => void) | undefined;
  const stopRequested = new Promise<number>((resolve) => {
    stopped = resolve;
  });
  let received: NodeJS.Signals | undefined;
  const onStop = (signal: NodeJS.Signals) => {
    if (received !== undefined) {
      log('warn', 'second signal: killing every worker', { signal });
      keeper.kill();
      stopped?.(128 + (os.constants.signals[signal] ?? 0));
      return;
    }
    received = signal;
    if (o.env.NOTIFY_SOCKET) void systemdNotify(['STOPPING=1'], o.env);
    void keeper.stop(signal).then((code) => stopped?.(code));
  };
  const onReload = () => {
    log('info', 'reload requested', { by: 'SIGHUP' });
    void keeper.reload().then((result) => {
      // A rollback is logged by the keeper; a reload that never ran is logged here, never dropped silently.
      if (!result.ok && result.generation === 0)
        log('warn', 'reload not run', { by: 'SIGHUP', reason: result.reason });
    });
  };
  const onForward = (signal: NodeJS.Signals) => keeper.forward(signal);
  const handlers: [NodeJS.Signals, (signal: NodeJS.Signals) => void][] = [
    ['SIGTERM', onStop],
    ['SIGINT', onStop],
    ['SIGHUP', onReload],
    ['SIGUSR1', onForward],
    ['SIGUSR2', onForward],
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);

  let code: number;
  try {
    const started = keeper.start().then(
      () => undefined,
      () => KeeperExit.NEVER_READY,
    );
    const early = await Promise.race([started, stopRequested]);
    if (early !== undefined && !keeper.stopping) code = early;
    else {
      const fatal = keeper.fatal.then(async (c) => {
        await keeper.stop('nothing can serve');
        return c;
      });
      code = await Promise.race([stopRequested, fatal]);
    }
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    control.close();
    releaseSockets(sockets);
  }
  log(code === 0 ? 'info' : 'warn', 'keeper exiting', { code });
  return code;
}
