import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bindAddress, type HeldSocket, listenWithoutAccepting } from './bind.js';
import { ask, formatStatus, openControl } from './control-socket.js';
import { Keeper, KeeperExit, type KeeperLog } from './keeper.js';
import { clearListenEnv, isValidFdName, parseAddress, parseListenEnv } from './listen-fds.js';
import { systemdNotify } from './notify.js';

/** Exit codes of `lameduck reload` and `lameduck status`. */
export const ClientExit = { OK: 0, ROLLED_BACK: 1, USAGE: 2, UNREACHABLE: 3 } as const;

const HELP = `lameduck: zero-downtime restarts for node servers

Usage:
  lameduck run [options] -- <command> [args...]
  lameduck reload [--control PATH] [--json]
  lameduck status [--control PATH] [--json]

run: hold the listening sockets and run workers on them (systemd protocol: fds from 3,
LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID). SIGHUP or \`lameduck reload\` starts a new
generation and drains the old one only once the new one is ready; SIGTERM/SIGINT drain
everything and exit. Sockets inherited from systemd socket activation are passed on too.

  --listen [NAME=]ADDR   bind ADDR: 8080, 127.0.0.1:8080, [::1]:8080, /run/app.sock (repeatable)
  --workers N            workers per generation (default 1)
  --ready-timeout T      time a generation has to report ready (default 30s)
  --drain-timeout T      time a worker has to drain before SIGKILL (default 30s)
  --settle T             time a new generation must stay up after ready (default 1s)
  --max-draining N       old generations draining side by side (default 2)
  --control PATH         control socket for reload/status (default $LAMEDUCK_CONTROL,
                         $XDG_RUNTIME_DIR/lameduck.sock or <tmpdir>/lameduck-<uid>.sock)
  T is a number of seconds, or a number with ms, s or m.

Exit codes of run: 0 drained cleanly, 1 a worker had to be killed or failed while
draining, 2 usage, 3 sockets or control socket unavailable, 4 first generation never
ready, 5 nothing left that can serve, 128+N second signal N.
Exit codes of reload/status: 0 done, 1 reload rolled back, 2 usage, 3 keeper unreachable.
`;

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

class UsageError extends Error {}

/** Parses a duration: seconds by default, or with an `ms`, `s` or `m` suffix. */
export function parseDuration(name: string, value: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(value.trim());
  if (m === null)
    throw new UsageError(
      `--${name} must be a duration such as 500ms, 10s or 2m, got ${JSON.stringify(value)}`,
    );
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1_000;
  if (ms > 2_147_483_647) throw new UsageError(`--${name} is too long: ${value}`);
  return Math.round(ms);
}

function parseCount(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,4}$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function defaultControlPath(env: NodeJS.ProcessEnv): string {
  if (env.LAMEDUCK_CONTROL) return env.LAMEDUCK_CONTROL;
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'lameduck.sock');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `lameduck-${uid}.sock`);
}

/** One JSON object per line: what journald, `kubectl logs` and log shippers read without a parser. */
export function jsonLog(stream: NodeJS.WritableStream): KeeperLog {
  return (level, msg, fields = {}) => {
    stream.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, msg, keeper: process.pid, ...fields })}\n`,
    );
  };
}

/** The CLI; resolves the exit code. Only the bin entry exits the process. */
export async function main(argv: readonly string[], io?: Partial<CliIo>): Promise<number> {
  const o: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, ...io };
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(rest, o);
      case 'reload':
      case 'status':
        return await client(command, rest, o);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        o.stdout.write(HELP);
        return command === undefined ? KeeperExit.USAGE : 0;
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}; the commands are run, reload and status`,
        );
    }
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      o.stderr.write(`lameduck: ${(error as Error).message}\n(see lameduck --help)\n`);
      return KeeperExit.USAGE;
    }
    throw error;
  }
}

async function run(args: readonly string[], io: CliIo): Promise<number> {
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const { values, positionals } = parseArgs({
    args: [...own],
    allowPositionals: true,
    options: {
      listen: { type: 'string', multiple: true },
      workers: { type: 'string' },
      'ready-timeout': { type: 'string' },
      'drain-timeout': { type: 'string' },
      settle: { type: 'string' },
      'max-draining': { type: 'string' },
      control: { type: 'string' },
    },
  });
  const command = dash === -1 ? positionals : [...positionals, ...args.slice(dash + 1)];
  if (command.length === 0)
    throw new UsageError('run needs a command after --, for example: lameduck run -- node server.js');
  const specs = (values.listen ?? []).map((spec) => {
    const eq = spec.indexOf('=');
    const name = eq > 0 && !spec.startsWith('/') ? spec.slice(0, eq) : undefined;
    const addressSpec = name === undefined ? spec : spec.slice(eq + 1);
    const address = parseAddress(addressSpec);
    if (address === undefined)
      throw new UsageError(
        `--listen ${JSON.stringify(spec)} is not an address such as 8080, 127.0.0.1:8080, [::1]:8080 or /run/app.sock`,
      );
    if (name !== undefined && !isValidFdName(name))
      throw new UsageError(`--listen name ${JSON.stringify(name)} must be printable ASCII without ':'`);
    return {
      name: name ?? ('path' in address && isValidFdName(address.path) ? address.path : 'unknown'),
      address,
    };
  });
  const workers = parseCount('workers', values.workers, 1, 1);
  const maxDraining = parseCount('max-draining', values['max-draining'], 2, 1);
  const readyTimeout =
    values['ready-timeout'] === undefined ? 30_000 : parseDuration('ready-timeout', values['ready-timeout']);
  const drainTimeout =
    values['drain-timeout'] === undefined ? 30_000 : parseDuration('drain-timeout', values['drain-timeout']);
  const settle = values.settle === undefined ? 1_000 : parseDuration('settle', values.settle);
  const controlPath = values.control ?? defaultControlPath(io.env);
  const log = jsonLog(io.stderr);

  // 1. Sockets: systemd's first (the keeper is the process systemd started), then our own.
  const sockets: HeldSocket[] = [];
  try {
    for (const f of parseListenEnv(io.env, process.pid))
      sockets.push({ ...f, address: 'inherited', handle: undefined });
    clearListenEnv(io.env);
    const bound: HeldSocket[] = [];
    for (const spec of specs) bound.push(await bindAddress(spec.address, spec.name));
    sockets.push(...bound);
    if (bound.length > 0) await listenWithoutAccepting(bound);
  } catch (error) {
    closeSockets(sockets);
    log('error', 'could not take the listening sockets', { error: (error as Error).message });
    return KeeperExit.STARTUP;
  }
  if (sockets.length === 0)
    throw new UsageError('nothing to listen on: give --listen, or run under systemd socket activation');
  for (const s of sockets) log('info', 'socket held', { name: s.name, address: s.address, fd: s.fd });

  const keeper = new Keeper({
    command,
    sockets,
    workers,
    readyTimeout,
    drainTimeout,
    settle,
    maxDraining,
    env: io.env,
    log,
    onServing: () => {
      if (io.env.NOTIFY_SOCKET) void systemdNotify(['--ready', `--pid=${process.pid}`], io.env);
    },
  });

  // 2. The control socket, for `lameduck reload` and `lameduck status`.
  let control: net.Server;
  try {
    control = await openControl(controlPath, keeper);
  } catch (error) {
    log('error', 'control socket unavailable', { path: controlPath, error: (error as Error).message });
    closeSockets(sockets);
    return KeeperExit.STARTUP;
  }
  log('info', 'keeper started', { control: controlPath, workers, command });

  // 3. Signals.
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
    if (io.env.NOTIFY_SOCKET) void systemdNotify(['STOPPING=1'], io.env);
    void keeper.stop(signal).then((code) => stopped?.(code));
  };
  const onReload = () => {
    log('info', 'reload requested', { by: 'SIGHUP' });
    void keeper.reload();
  };
  const onForward = (signal: NodeJS.Signals) => keeper.forward(signal);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  process.on('SIGUSR1', onForward);
  process.on('SIGUSR2', onForward);

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
    process.removeListener('SIGTERM', onStop);
    process.removeListener('SIGINT', onStop);
    process.removeListener('SIGHUP', onReload);
    process.removeListener('SIGUSR1', onForward);
    process.removeListener('SIGUSR2', onForward);
    control.close();
    closeSockets(sockets);
  }
  log(code === 0 ? 'info' : 'warn', 'keeper exiting', { code });
  return code;
}

function closeSockets(sockets: readonly HeldSocket[]): void {
  for (const s of sockets) s.handle?.close();
}

async function client(command: 'reload' | 'status', args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { control: { type: 'string' }, json: { type: 'boolean' } },
  });
  const controlPath = values.control ?? defaultControlPath(io.env);
  let answer: Record<string, unknown>;
  try {
    answer = await ask(controlPath, command);
  } catch (error) {
    io.stderr.write(`lameduck: no keeper answers on ${controlPath}: ${(error as Error).message}\n`);
    return ClientExit.UNREACHABLE;
  }
  if (values.json) io.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  if (command === 'reload') {
    const ok = answer.ok === true;
    if (!values.json) {
      if (ok) io.stdout.write(`reloaded: generation ${answer.generation} serving\n`);
      else io.stderr.write(`reload rolled back: ${answer.reason}\n`);
    }
    return ok ? ClientExit.OK : ClientExit.ROLLED_BACK;
  }
  if (!values.json) io.stdout.write(formatStatus(answer));
  return ClientExit.OK;
}
