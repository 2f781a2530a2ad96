import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AnyServer } from '@lameduck/core';

export const tlsFixture = {
  key: readFileSync(fileURLToPath(new URL('./fixtures/key.pem', import.meta.url))),
  cert: readFileSync(fileURLToPath(new URL('./fixtures/cert.pem', import.meta.url))),
};

/** Listens on 127.0.0.1 with an ephemeral port. */
export async function listen(server: AnyServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** A promise with its resolve function, for awaiting something a handler does. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves after `n` calls of the returned function. */
export function countdown(n: number): { tick: () => void; done: Promise<void> } {
  const d = deferred();
  let left = n;
  if (left <= 0) d.resolve();
  return {
    tick: () => {
      left--;
      if (left === 0) d.resolve();
    },
    done: d.promise,
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A hand-driven HTTP/1.1 client on one socket: it shows exactly which headers came back and whether the
 * connection ended with a FIN or a reset, which an Agent hides.
 */
export class RawConnection {
  readonly socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  /** Set when the server sent FIN. */
  ended = false;
  /** The socket error code, if any (ECONNRESET is the one that matters). */
  error: string | undefined;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err.code ?? err.message;
      this.#wake();
    });
    this.closed = once(socket, 'close').then(() => {
      this.#wake();
    });
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  get(path: string, extra = ''): void {
    this.send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #more(): Promise<void> {
    if (this.ended || this.error !== undefined || this.socket.destroyed) {
      throw new Error(`connection ended (${this.error ?? 'FIN'}) before the response was complete`);
    }
    await new Promise<void>((r) => this.#waiters.push(r));
  }

  /** Reads the next complete response (Content-Length or chunked bodies). */
  async response(): Promise<RawResponse> {
    for (;;) {
      const head = this.#buffer.indexOf('\r\n\r\n');
      if (head !== -1) {
        const lines = this.#buffer.subarray(0, head).toString('latin1').split('\r\n');
        const status = Number(lines[0]?.split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':');
          headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const rest = this.#buffer.subarray(head + 4);
        const parsed = parseBody(headers, rest);
        if (parsed !== undefined) {
          this.#buffer = rest.subarray(parsed.used);
          return { status, headers, body: parsed.body };
        }
      }
      await this.#more();
    }
  }

  /** Resolves once the socket closed; tells whether the server ended it cleanly. */
  async outcome(): Promise<'fin' | 'reset' | string> {
    await this.closed;
    if (this.error !== undefined) return this.error === 'ECONNRESET' ? 'reset' : this.error;
    return this.ended ? 'fin' : 'closed';
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function parseBody(
  headers: Record<string, string>,
  rest: Buffer,
): { body: string; used: number } | undefined {
  if (headers['transfer-encoding']?.includes('chunked')) {
    let offset = 0;
    let body = '';
    for (;;) {
      const eol = rest.indexOf('\r\n', offset);
      if (eol === -1) return undefined;
      const size = Number.parseInt(rest.subarray(offset, eol).toString('latin1'), 16);
      const start = eol + 2;
      if (size === 0) {
        if (rest.length < start + 2) return undefined;
        return { body, used: start + 2 };
      }
      if (rest.length < start + size + 2) return undefined;
      body += rest.subarray(start, start + size).toString();
      offset = start + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (rest.length < length) return undefined;
  return { body: rest.subarray(0, length).toString(), used: length };
}

export interface AgentResult {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  /** Error code when the request failed (ECONNREFUSED, ECONNRESET, …). */
  error?: string;
  /** The response ended before its declared length. */
  truncated?: boolean;
}

/** One request through an Agent; never rejects. */
export function request(agent: http.Agent, port: number, path: string): Promise<AgentResult> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        const declared = res.headers['content-length'];
        const truncated =
          !res.complete || (declared !== undefined && Buffer.byteLength(body) !== Number(declared));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, truncated });
      });
      res.on('error', (err: NodeJS.ErrnoException) =>
        resolve({ error: err.code ?? err.message, truncated: true }),
      );
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the first stdout line that starts with `prefix` (the rest of the line). */
  line(prefix: string): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
  stderr: () => string;
  kill(): void;
}

/** Runs a TypeScript fixture in a child node process, resolving workspace packages to their source. */
export function spawnFixture(file: string, env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--conditions=@lameduck/source', '--import', 'tsx', file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let waiters: { prefix: string; resolve: (rest: string) => void }[] = [];
  const scan = () => {
    const lines = out.split('\n').slice(0, -1);
    waiters = waiters.filter((w) => {
      const hit = lines.find((l) => l.startsWith(w.prefix));
      if (hit === undefined) return true;
      w.resolve(hit.slice(w.prefix.length).trim());
      return false;
    });
  };
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    scan();
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    process: proc,
    line(prefix) {
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve });
        scan();
        void exited.then(({ code, signal }) => {
          reject(
            new Error(
              `child exited (${code ?? signal}) before printing "${prefix}"\nstdout:\n${out}\nstderr:\n${err}`,
            ),
          );
        });
      });
    },
    exited,
    stdout: () => out,
    stderr: () => err,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}
