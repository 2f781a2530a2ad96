// The processes of the demo: servers and the keeper, run from their TypeScript sources as `npm run demo`
// runs itself, with their output read line by line.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: children resolve `tsx` and the workspace packages from here. */
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** How every child runs TypeScript: the workspace packages from their sources (`@lameduck/source`). */
export const tsNode = [process.execPath, '--conditions=@lameduck/source', '--import', 'tsx'];

/**
 * The keeper's command line (`lameduck`, the bin of the keeper package) from its source. The one place
 * that names where the keeper lives.
 */
export const keeperCommand = [
  ...tsNode,
  fileURLToPath(new URL('../../packages/keeper/src/bin/lameduck.ts', import.meta.url)),
];

/** A file of the demo or of the examples, by its path relative to examples/demo/. */
export const demoFile = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

const BOUND_MS = 60_000;

export interface Proc {
  readonly child: ChildProcess;
  /**
   * Resolves with the match of the `count`-th stdout or stderr line that matches `pattern` (lines already
   * printed count); rejects if the process exits first, or after a minute.
   */
  waitFor(pattern: RegExp, count?: number): Promise<RegExpExecArray>;
  /** Resolves once the process exited; one that is still running after a minute is killed (SIGKILL). */
  ended(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Passes every line to `show`: those printed so far at once, then each as it comes. */
  show(show: (line: string) => void): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal unless the process is gone. */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts the demo's child processes and kills whatever is still running when the demo exits; on SIGINT
 * or SIGTERM it stops them first (a keeper drains its workers), so an interrupted demo leaves nothing
 * listening.
 */
export class Children {
  readonly #running = new Set<ChildProcess>();

  constructor() {
    process.on('exit', () => {
      for (const child of this.#running) child.kill('SIGKILL');
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        const all = [...this.#running];
        for (const child of all) child.kill('SIGTERM');
        setTimeout(() => process.exit(130), 3_000).unref();
        void Promise.all(all.map((c) => new Promise((r) => c.once('exit', r)))).then(() => process.exit(130));
      });
    }
  }

  /** Starts `command` (argv, the executable first); its lines are held until `show()`. */
  start(command: readonly string[], env: Record<string, string>): Proc {
    const [file = process.execPath, ...args] = command;
    const child = spawn(file, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#running.add(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => {
        this.#running.delete(child);
        resolve({ code, signal });
      });
    });
    const seen: string[] = [];
    let shown: ((line: string) => void) | undefined;
    let waiters: { pattern: RegExp; left: number; resolve: (m: RegExpExecArray) => void }[] = [];
    const read = (stream: 'stdout' | 'stderr') => {
      let partial = '';
      child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (line === '') continue;
          seen.push(line);
          shown?.(line);
          waiters = waiters.filter((w) => {
            const m = w.pattern.exec(line);
            if (m !== null && --w.left === 0) w.resolve(m);
            return w.left > 0;
          });
        }
      });
    };
    read('stdout');
    read('stderr');
    return {
      child,
      exited,
      waitFor(pattern, count = 1) {
        let left = count;
        for (const line of seen) {
          const m = pattern.exec(line);
          if (m !== null && --left === 0) return Promise.resolve(m);
        }
        const name = path.basename(command.at(-1) ?? '');
        return new Promise((resolve, reject) => {
          // A safety net, far beyond what any step takes on a loaded machine: the demo never hangs.
          const timer = setTimeout(
            () => reject(new Error(`${name} printed no ${pattern} in a minute`)),
            BOUND_MS,
          );
          waiters.push({
            pattern,
            left,
            resolve: (m) => {
              clearTimeout(timer);
              resolve(m);
            },
          });
          void exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`${name} exited (${code ?? signal}) before printing ${pattern}`));
          });
        });
      },
      async ended() {
        const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      },
      show(show) {
        for (const line of seen) show(line);
        shown = show;
      },
      signal(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }
}

/** A port that was free on 127.0.0.1 a moment ago, for the runs where two processes take turns on one. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits for `promise`, or `ms` at most (its timer cleared either way, so that it never holds the exit). */
export async function atMost(ms: number, promise: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
