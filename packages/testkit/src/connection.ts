import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A hand-driven HTTP/1.1 client on one socket (plain or TLS). Unlike an Agent it shows exactly which
 * headers came back, sends a request on a chosen keep-alive socket at a chosen moment (or several at
 * once, pipelined), and tells a clean FIN from a reset.
 */
export class RawConnection {
  readonly socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  /** The server sent FIN. */
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
    this.closed = once(socket, 'close').then(() => this.#wake());
  }

  /**
   * Connects to a port on 127.0.0.1, or to an `http:` or `https:` URL (TLS without certificate checks:
   * the tests' own certificate).
   */
  static async open(target: number | string): Promise<RawConnection> {
    const { hostname, port, protocol } =
      typeof target === 'number'
        ? { hostname: '127.0.0.1', port: String(target), protocol: 'http:' }
        : new URL(target);
    if (protocol === 'https:') {
      const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
      await once(socket, 'secureConnect');
      return new RawConnection(socket);
    }
    const socket = net.connect(Number(port), hostname);
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  /** Writes raw bytes (pipelined requests, a HEAD, a malformed request). */
  send(text: string): void {
    this.socket.write(text);
  }

  /** Sends `GET path`; `extra` is more header lines, each ending in CRLF. */
  get(path: string, extra = ''): void {
    this.send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);
  }

  /** Resolves once the head of the next response arrived (for streams already under way). */
  async head(): Promise<void> {
    while (this.#buffer.indexOf('\r\n\r\n') === -1) await this.#more();
  }

  /** Reads the next complete response (Content-Length or chunked); rejects when the socket ends first. */
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

  /**
   * Resolves once the socket closed: `fin` when the server ended it cleanly, `reset` on ECONNRESET,
   * another error code as it is, `closed` when it closed with neither.
   */
  async outcome(): Promise<string> {
    await this.closed;
    if (this.error !== undefined) return this.error === 'ECONNRESET' ? 'reset' : this.error;
    return this.ended ? 'fin' : 'closed';
  }

  destroy(): void {
    this.socket.destroy();
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
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

function parseBody(
  headers: Record<string, string>,
  rest: Buffer,
): { body: string; used: number } | undefined {
  if (headers['transfer-encoding']?.includes('chunked')) {
    let offset = 0;
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n', offset);
      if (eol === -1) return undefined;
      const size = Number.parseInt(rest.subarray(offset, eol).toString('latin1'), 16);
      const start = eol + 2;
      if (size === 0) {
        if (rest.length < start + 2) return undefined;
        return { body: Buffer.concat(parts).toString(), used: start + 2 };
      }
      if (rest.length < start + size + 2) return undefined;
      parts.push(rest.subarray(start, start + size));
      offset = start + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (rest.length < length) return undefined;
  return { body: rest.subarray(0, length).toString(), used: length };
}

/** One request on a fresh connection, which is then closed (a probe: kubelet does not reuse connections). */
export async function fetchOnce(target: number | string, path: string): Promise<RawResponse> {
  const conn = await RawConnection.open(target);
  try {
    conn.get(path);
    return await conn.response();
  } finally {
    conn.destroy();
  }
}
