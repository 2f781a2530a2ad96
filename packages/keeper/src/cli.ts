import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isValidFdName, parseAddress } from '@lameduck/core/protocol';
import { ask } from './admin-socket.js';
import { runKeeper } from './cli-run.js';
import { HELP, parseArgsUsage, RELOAD_HELP, RUN_HELP, STATUS_HELP, UsageError } from './cli-usage.js';
import { jsonLog } from './log.js';
import { formatStatus, type KeeperSnapshot } from './status.js';
import { KeeperExit } from './supervisor.js';

/** Exit codes of `lameduck reload` and `lameduck status`. */
export const ClientExit = { OK: 0, ROLLED_BACK: 1, USAGE: 2, UNREACHABLE: 3 } as const;

/** Where the CLI reads and writes; every field defaults to the process's own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** What `--version` prints (the bin reads it from the package). */
  version: string;
}

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

const COMMAND_HELP: Record<string, string> = { run: RUN_HELP, reload: RELOAD_HELP, status: STATUS_HELP };

/** `--help` or `-h` among a command's own arguments (before `--`: after it they belong to the worker). */
function asksHelp(args: readonly string[]): boolean {
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  return own.includes('--help') || own.includes('-h');
}

/**
 * The `lameduck` command: `run`, `reload`, `status`, `help` and `--version`. Resolves the exit code;
 * only the bin entry exits the process. Usage errors are one line on stderr and exit 2.
 *
 * @example
 * ```ts
 * import { main } from '@lameduck/keeper';
 *
 * // What `lameduck status --json` prints, from a script (exit 3 when no keeper answers).
 * const code = await main(['status', '--json', '--control', '/run/myapp/control.sock']);
 * ```
 */
export async function main(argv: readonly string[], io?: Partial<CliIo>): Promise<number> {
  const o: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    version: 'unknown',
    ...io,
  };
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
      case 'reload':
      case 'status':
        if (asksHelp(rest)) {
          o.stdout.write(COMMAND_HELP[command] ?? HELP);
          return 0;
        }
        return command === 'run' ? await run(rest, o) : await client(command, rest, o);
      case 'help': {
        const topic = rest[0];
        o.stdout.write((topic === undefined ? undefined : COMMAND_HELP[topic]) ?? HELP);
        return 0;
      }
      case '--help':
      case '-h':
        o.stdout.write(HELP);
        return 0;
      case '--version':
      case '-v':
        o.stdout.write(`${o.version}\n`);
        return 0;
      case undefined:
        o.stderr.write(HELP);
        return KeeperExit.USAGE;
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}; the commands are run, reload and status (lameduck --help)`,
        );
    }
  } catch (caught) {
    const error = caught instanceof UsageError ? caught : parseArgsUsage(caught, command ?? '');
    if (error === undefined) throw caught;
    const about = error.command ?? (command !== undefined && command in COMMAND_HELP ? command : undefined);
    const help = about === undefined ? 'lameduck --help' : `lameduck ${about} --help`;
    o.stderr.write(`lameduck: ${error.message} (see ${help})\n`);
    return KeeperExit.USAGE;
  }
}

function parseListen(spec: string): { name: string; address: NonNullable<ReturnType<typeof parseAddress>> } {
  const eq = spec.indexOf('=');
  const name = eq > 0 && !spec.startsWith('/') ? spec.slice(0, eq) : undefined;
  const addressSpec = name === undefined ? spec : spec.slice(eq + 1);
  const address = parseAddress(addressSpec);
  if (address === undefined)
    throw new UsageError(
      `--listen ${JSON.stringify(spec)} is not an address such as :8080, 127.0.0.1:8080, [::1]:8080 or /run/app.sock`,
      'run',
    );
  if (name !== undefined && !isValidFdName(name))
    throw new UsageError(`--listen name ${JSON.stringify(name)} must be printable ASCII without ':'`, 'run');
  // An unnamed TCP socket is "unknown" in LISTEN_FDNAMES, as systemd names it; logs show its address.
  return {
    name: name ?? ('path' in address && isValidFdName(address.path) ? address.path : 'unknown'),
    address,
  };
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
    throw new UsageError(
      'run needs a command after --, for example: lameduck run --listen :8080 -- node server.js',
      'run',
    );
  const duration = (name: 'ready-timeout' | 'drain-timeout' | 'settle', fallback: number) => {
    const value = values[name];
    return value === undefined ? fallback : parseDuration(name, value);
  };
  return runKeeper({
    command,
    listen: (values.listen ?? []).map(parseListen),
    workers: parseCount('workers', values.workers, 1, 1),
    maxDraining: parseCount('max-draining', values['max-draining'], 2, 1),
    readyTimeout: duration('ready-timeout', 30_000),
    drainTimeout: duration('drain-timeout', 30_000),
    settle: duration('settle', 1_000),
    controlPath: values.control ?? defaultControlPath(io.env),
    env: io.env,
    log: jsonLog(io.stderr),
  });
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
      else if (answer.generation === 0) io.stderr.write(`reload not run: ${answer.reason}\n`);
      else io.stderr.write(`reload rolled back: ${answer.reason}\n`);
    }
    return ok ? ClientExit.OK : ClientExit.ROLLED_BACK;
  }
  if (!values.json) io.stdout.write(formatStatus(answer as unknown as KeeperSnapshot));
  return ClientExit.OK;
}
