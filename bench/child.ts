// Child processes of the benchmarks: TypeScript files run with the source export condition, JSON lines
// read from their stdout, and a process-wide cleanup so that a failed or interrupted run leaves nothing
// running (servers, keepers, the pm2 daemon).
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wallNow } from './clock.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `node` with the flags that run the repository's TypeScript (workspace packages from their source). */
export const tsNode: readonly string[] = [
  process.execPath,
  '--conditions=@lameduck/source',
  '--import',
  'tsx',
];

const live = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups = new Set<() => void>();
let installed = false;

/**
 * Runs `fn` (synchronous: it may run from the 'exit' event) when the benchmark ends, however it ends.
 * Returns a function that runs it now and removes it.
 */
export function onCleanup(fn: () => void): () => void {
  installCleanup();
  cleanups.add(fn);
  return () => {
    if (cleanups.delete(fn)) fn();
  };
}

function installCleanup(): void {
  if (installed) return;
  installed = true;
  const cleanAll = () => {
    for (const fn of cleanups) {
      try {
        fn();
      } catch {}
    }
    cleanups.clear();
    for (const child of live) child.kill('SIGKILL');
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
      cleanAll();
      process.exit(130);
    });
  }
}

/** A JSON object a child printed on one line of stdout, with the wall-clock time it was read. */
export type Message = Record<string, unknown> & { readAt: number };

export interface Child {
  readonly process: ChildProcess;
  /** The next message for which `match` holds (messages before it are skipped, later ones kept). */
  message(match?: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  /** Resolves when the process exited, with the wall-clock time the exit was seen. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** The end of what it wrote on stderr, for error messages. */
  stderrTail(): string;
  /** SIGKILL unless it already exited. */
  kill(): void;
}

/** Starts `file` (TypeScript) in a child node process; stdout is a channel of JSON lines. */
export function spawnTs(
  file: string,
  args: readonly string[] = [],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {},
): Child {
  const [node = process.execPath, ...flags] = tsNode;
  return spawnChild(node, [...(options.nodeArgs ?? []), ...flags, file, ...args], {
    cwd: root,
    env: options.env ?? process.env,
  });
}

/** Starts any command; stdout is read as JSON lines (other lines are ignored). */
export function spawnChild(command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  installCleanup();
  const proc = spawn(command, args, { cwd: root, ...options, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  proc.stdin!.on('error', () => {});
  const queue: Message[] = [];
  let waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  let buffer = '';
  let stderr = '';
  const deliver = (m: Message) => {
    const waiter = waiters.find((w) => w.match(m));
    if (waiter === undefined) queue.push(m);
    else {
      waiters = waiters.filter((w) => w !== waiter);
      waiter.resolve(m);
    }
  };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        deliver({ ...(JSON.parse(line) as Record<string, unknown>), readAt: wallNow() });
      } catch {}
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => {
      proc.on('exit', (code, signal) => {
        const at = wallNow();
        live.delete(proc);
        resolve({ code, signal, at });
      });
    },
  );
  const stdoutEnded = once(proc.stdout!, 'end').catch(() => undefined);
  const describe = () => `${path.basename(String(args.at(-1) ?? command))} (pid ${proc.pid})`;
  return {
    process: proc,
    exited,
    message(match = () => true, timeoutMs = 30_000) {
      const queued = queue.findIndex(match);
      if (queued !== -1) return Promise.resolve(queue.splice(0, queued + 1).at(-1)!);
      return new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(() => fail(`no matching message within ${timeoutMs} ms`), timeoutMs);
        const fail = (why: string) => {
          waiters = waiters.filter((w) => w.resolve !== done);
          reject(new Error(`${describe()}: ${why}\nstderr: ${stderr.slice(-1_500)}`));
        };
        const done = (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiters.push({ match, resolve: done });
        // Lines written just before the exit may still be in the pipe when 'exit' fires.
        void exited
          .then((exit) => Promise.race([stdoutEnded, sleep(200)]).then(() => exit))
          .then(({ code, signal }) => {
            clearTimeout(timer);
            if (waiters.some((w) => w.resolve === done)) fail(`exited (${code ?? signal}) first`);
          });
      });
    },
    stderrTail: () => stderr,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Runs a command to completion (output collected); rejects on a non-zero exit. */
export async function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const proc = spawn(command, args, { cwd: root, ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
  live.delete(proc);
  if (code !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited ${code ?? signal}\n${stderr.slice(-2_000)}`);
  }
  return { stdout, stderr };
}

/** The same, synchronously, for cleanup from the 'exit' event; failures are ignored. */
export function runSync(command: string, args: readonly string[], options: SpawnOptions = {}): void {
  spawnSync(command, args, { cwd: root, ...options, stdio: 'ignore', timeout: 15_000 });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
