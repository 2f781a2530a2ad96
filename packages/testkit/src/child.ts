import { type ChildProcess, spawn } from 'node:child_process';

/** How a child node process runs TypeScript sources, resolving workspace packages to their source too. */
export const sourceArgs: readonly string[] = ['--conditions=@lameduck/source', '--import', 'tsx'];

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A line of a child's output that parsed as a JSON object (a structured log line, an event). */
export type JsonLine = Record<string, unknown>;

export interface ChildOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Runs the child in a process group of its own: `kill()` then ends the whole group. */
  detached?: boolean;
  /** File descriptors after stdin, stdout and stderr (a listening socket handed down, say). */
  extraStdio?: (number | 'pipe' | 'ignore')[];
  /** The stream whose lines are read as JSON for {@link Child.json}. Default: stderr (loggers write there). */
  jsonFrom?: 'stdout' | 'stderr';
}

type Stream = 'stdout' | 'stderr';

/**
 * A child process whose output a test awaits: a stdout line with a prefix, a match on either stream, or
 * a JSON line. Each wait rejects, with the output so far, once no more output can come.
 */
export class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  /** Resolves once stdout and stderr closed: the child, and whatever it started that held them, is gone. */
  readonly closed: Promise<void>;
  /** Every JSON line of the JSON stream, in order. */
  readonly lines: JsonLine[] = [];
  #text: Record<Stream | 'both', string> = { stdout: '', stderr: '', both: '' };
  #waiters = new Set<() => boolean>();
  #done = false;
  /** Set when the command could not be started (not found, not executable). */
  #spawnError: Error | undefined;
  readonly #detached: boolean;

  constructor(command: string, args: readonly string[], options: ChildOptions = {}) {
    this.#detached = options.detached ?? false;
    this.process = spawn(command, args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      detached: this.#detached,
      stdio: ['pipe', 'pipe', 'pipe', ...(options.extraStdio ?? [])],
    });
    const jsonFrom = options.jsonFrom ?? 'stderr';
    const streams = { stdout: this.process.stdout, stderr: this.process.stderr };
    const closes: Promise<void>[] = [];
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = streams[name];
      if (stream === null) continue;
      let partial = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        this.#text[name] += chunk;
        this.#text.both += chunk;
        if (name === jsonFrom) {
          const complete = (partial + chunk).split('\n');
          partial = complete.pop() ?? '';
          for (const text of complete) {
            const line = parseJsonLine(text);
            if (line !== undefined) this.lines.push(line);
          }
        }
        this.#wake();
      });
      closes.push(new Promise((resolve) => stream.on('close', () => resolve())));
    }
    this.closed = Promise.all(closes).then(() => {
      this.#done = true;
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => resolve({ code, signal }));
      this.process.on('error', (err) => {
        if (this.process.pid !== undefined) return;
        this.#spawnError = err;
        this.#done = true;
        this.#wake();
        resolve({ code: null, signal: null });
      });
    });
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  stdout(): string {
    return this.#text.stdout;
  }

  stderr(): string {
    return this.#text.stderr;
  }

  /** stdout and stderr, interleaved as they arrived. */
  get output(): string {
    return this.#text.both;
  }

  /** Resolves with the rest of the first stdout line that starts with `prefix`, trimmed. */
  line(prefix: string): Promise<string> {
    return this.#wait(`a stdout line starting with "${prefix}"`, () => {
      const hit = this.#text.stdout
        .split('\n')
        .slice(0, -1)
        .find((l) => l.startsWith(prefix));
      return hit === undefined ? undefined : hit.slice(prefix.length).trim();
    });
  }

  /** Resolves with the first match of `pattern` in a stream (default stderr) from character `from` on. */
  match(pattern: RegExp, stream: Stream | 'both' = 'stderr', from = 0): Promise<RegExpExecArray> {
    return this.#wait(`${pattern} on ${stream}`, () => {
      const m = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(
        this.#text[stream].slice(from),
      );
      return m ?? undefined;
    });
  }

  /**
   * Resolves with the first JSON line from index `from` on that `match` accepts. `ms` bounds the wait
   * for a child that goes on running but never prints it.
   */
  json(match: (line: JsonLine) => boolean, options: { from?: number; ms?: number } = {}): Promise<JsonLine> {
    const waited = this.#wait('a matching JSON line', () => this.lines.slice(options.from ?? 0).find(match));
    if (options.ms === undefined) return waited;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`no matching JSON line within ${options.ms} ms\n${this.#text.both.slice(-4_000)}`),
          ),
        options.ms,
      );
    });
    return Promise.race([waited, bound]).finally(() => clearTimeout(timer));
  }

  /** Sends `signal` if the process is still there. */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {}
  }

  /** Cleanup: SIGKILL, to the process group when detached, if still running. */
  kill(): void {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    try {
      process.kill(this.#detached ? -this.pid : this.pid, 'SIGKILL');
    } catch {}
  }

  #wait<T>(what: string, find: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) {
          resolve(found);
          return true;
        }
        if (this.#spawnError !== undefined) {
          reject(this.#spawnError);
          return true;
        }
        if (this.#done) {
          void this.exited.then(({ code, signal }) =>
            reject(
              new Error(
                `the child ended (${code ?? signal}) before ${what}\nstdout:\n${this.#text.stdout}\nstderr:\n${this.#text.stderr}`,
              ),
            ),
          );
          return true;
        }
        return false;
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  #wake(): void {
    for (const check of this.#waiters) if (check()) this.#waiters.delete(check);
  }
}

function parseJsonLine(text: string): JsonLine | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    return JSON.parse(text) as JsonLine;
  } catch {
    return undefined;
  }
}

/** Runs a TypeScript file in a child node process (`nodeOptions` go before it, `args` after it). */
export function spawnSource(
  file: string,
  options: ChildOptions & { args?: readonly string[]; nodeOptions?: readonly string[] } = {},
): Child {
  return new Child(
    process.execPath,
    [...(options.nodeOptions ?? []), ...sourceArgs, file, ...(options.args ?? [])],
    options,
  );
}
