import net from 'node:net';
import tls from 'node:tls';
import { now } from './clock.js';

/** Checks a body as it arrives. */
export interface Verifier {
  feed(chunk: Buffer): void;
  readonly complete: boolean;
}

/** What one HTTP/1 request on a connection came to. */
export interface H1Result {
  /** `response`: complete; `truncated`: the head arrived, the body did not end; `none`: not one byte. */
  kind: 'response' | 'truncated' | 'none';
  status?: number;
  headers?: Record<string, string>;
  /** A 2xx body passed its verifier. */
  verified?: boolean;
  /** The start of a non-2xx body. */
  text?: string;
  /** A response before this one on the connection announced `Connection: close`. */
  afterClose: boolean;
  at: number;
}

interface Pending {
  verifier: Verifier;
  /** Stop reading this long once the head arrived (a client that stops reading). */
  pauseAfterHead: number;
  resolve: (result: H1Result) => void;
  status?: number;
  headers?: Record<string, string>;
  text: Buffer[];
  afterClose: boolean;
}

type Phase =
  | { name: 'head' }
  | { name: 'length'; left: number }
  | { name: 'chunk-size' }
  | { name: 'chunk-data'; left: number }
  | { name: 'chunk-end' }
  | { name: 'trailer' }
  | { name: 'until-close' };

const empty = Buffer.alloc(0);

/**
 * Calls `onPort` with the socket's client port as soon as its connect() bound one. Node's `localPort`
 * stays empty until the connection completes, and a connection the kernel completed but that was reset
 * before the client saw it (`connect ECONNRESET`) must still be matched with the server's log.
 */
export function watchLocalPort(socket: net.Socket, onPort: (port: number) => void): void {
  // Node issues the connect() in a tick of its own: read the handle in the next one.
  process.nextTick(() => {
    const out: { port?: number } = {};
    const handle = (socket as unknown as { _handle?: { getsockname?: (out: object) => number } | null })
      ._handle;
    if (handle?.getsockname?.(out) === 0 && typeof out.port === 'number' && out.port > 0) onPort(out.port);
  });
  socket.once('connect', () => {
    if (socket.localPort !== undefined) onPort(socket.localPort);
  });
}

/**
 * One client connection speaking HTTP/1.1 by hand: requests can be pipelined, trickled a byte at a
 * time or paused mid-response, and the parser is incremental (no copy of a multi-megabyte body). It
 * records whether the server ended the connection with FIN or a reset, and which client port it had,
 * so that the server's log can be matched.
 */
export class H1Conn {
  readonly socket: net.Socket;
  /** Resolves with undefined once connected, or with the error code (`ECONNREFUSED`) if never. */
  readonly opened: Promise<string | undefined>;
  localPort: number | undefined;
  /** TCP connected (before TLS). */
  connected = false;
  error: string | undefined;
  /** The server sent FIN. */
  ended = false;
  closed = false;
  /** Some response on this connection announced `Connection: close`. */
  closeAnnounced = false;
  /** Responses completed on this connection. */
  answered = 0;
  #pending: Pending[] = [];
  #carry: Buffer = empty;
  #phase: Phase = { name: 'head' };

  /** When the connection was initiated: its SYN left no earlier. */
  readonly connectAt = now();

  constructor(port: number, secure: boolean) {
    this.socket = secure
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : net.connect(port, '127.0.0.1');
    watchLocalPort(this.socket, (port) => {
      this.localPort = port;
    });
    this.socket.once('connect', () => {
      this.connected = true;
    });
    this.opened = new Promise((resolve) => {
      this.socket.once(secure ? 'secureConnect' : 'connect', () => resolve(undefined));
      this.socket.once('close', () => resolve(this.error ?? 'closed'));
    });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('end', () => {
      this.ended = true;
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
    });
    this.socket.on('close', () => this.#onClose());
  }

  /** Requests written and not answered yet. */
  get outstanding(): number {
    return this.#pending.length;
  }

  /** Registers the next response's expectation; write the request's bytes after this. */
  expect(verifier: Verifier, pauseAfterHead = 0): Promise<H1Result> {
    return new Promise((resolve) => {
      const pending: Pending = {
        verifier,
        pauseAfterHead,
        resolve,
        text: [],
        afterClose: this.closeAnnounced,
      };
      if (this.closed) this.#settle(pending, 'none');
      else this.#pending.push(pending);
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Writes `chunk` unless the connection is gone; says whether it did. */
  readonly send = (chunk: Buffer): boolean => {
    if (this.socket.destroyed) return false;
    this.socket.write(chunk);
    return true;
  };

  /** Writes `data` a byte at a time, `gap` ms apart (a slow client); stops if the connection closes. */
  async trickle(data: Buffer, gap: number): Promise<void> {
    for (let i = 0; i < data.length && !this.socket.destroyed; i++) {
      this.socket.write(data.subarray(i, i + 1));
      await new Promise((resolve) => setTimeout(resolve, gap));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = empty;
    while (data.length > 0) {
      const p = this.#pending[0];
      if (p === undefined) {
        this.error ??= 'unexpected bytes with no request outstanding';
        return;
      }
      const phase = this.#phase;
      switch (phase.name) {
        case 'head': {
          const end = data.indexOf('\r\n\r\n');
          if (end === -1) {
            this.#carry = data;
            return;
          }
          this.#head(p, data.subarray(0, end).toString('latin1'));
          data = data.subarray(end + 4);
          break;
        }
        case 'length':
        case 'chunk-data': {
          const n = Math.min(phase.left, data.length);
          this.#body(p, data.subarray(0, n));
          phase.left -= n;
          data = data.subarray(n);
          if (phase.left === 0) {
            if (phase.name === 'length') this.#complete(p);
            else this.#phase = { name: 'chunk-end' };
          }
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const eol = data.indexOf('\r\n');
          if (eol === -1) {
            this.#carry = data;
            return;
          }
          const line = data.subarray(0, eol).toString('latin1');
          data = data.subarray(eol + 2);
          if (phase.name === 'trailer') {
            if (line === '') this.#complete(p);
          } else {
            const size = Number.parseInt(line, 16);
            this.#phase = size === 0 ? { name: 'trailer' } : { name: 'chunk-data', left: size };
          }
          break;
        }
        case 'chunk-end':
          if (data.length < 2) {
            this.#carry = data;
            return;
          }
          data = data.subarray(2);
          this.#phase = { name: 'chunk-size' };
          break;
        case 'until-close':
          this.#body(p, data);
          data = empty;
          break;
      }
    }
  }

  #head(p: Pending, head: string): void {
    const lines = head.split('\r\n');
    p.status = Number(lines[0]?.split(' ')[1]);
    p.headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      p.headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    if (p.headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      this.#phase = { name: 'chunk-size' };
    } else if (p.headers['content-length'] !== undefined) {
      const left = Number(p.headers['content-length']);
      this.#phase = { name: 'length', left };
      if (left === 0) this.#complete(p);
    } else {
      this.#phase = { name: 'until-close' };
    }
    if (p.pauseAfterHead > 0 && !this.socket.destroyed) {
      this.socket.pause();
      setTimeout(() => this.socket.resume(), p.pauseAfterHead);
    }
  }

  #body(p: Pending, chunk: Buffer): void {
    if (p.status !== undefined && p.status >= 200 && p.status < 300) p.verifier.feed(chunk);
    else if (p.text.reduce((n, b) => n + b.length, 0) < 1_024) p.text.push(chunk);
  }

  #complete(p: Pending): void {
    this.#pending.shift();
    this.#phase = { name: 'head' };
    this.answered++;
    if (/\bclose\b/i.test(p.headers?.connection ?? '')) this.closeAnnounced = true;
    this.#settle(p, 'response');
  }

  #settle(p: Pending, kind: H1Result['kind']): void {
    // A request left unanswered behind a response that announced `Connection: close` was never processed.
    const afterClose = p.afterClose || (kind === 'none' && this.closeAnnounced);
    const result: H1Result = { kind, afterClose, at: now() };
    if (p.status !== undefined) {
      result.status = p.status;
      result.headers = p.headers ?? {};
      if (p.status >= 200 && p.status < 300) result.verified = p.verifier.complete;
      else result.text = Buffer.concat(p.text).toString('utf8', 0, 200);
    }
    p.resolve(result);
  }

  #onClose(): void {
    this.closed = true;
    const pending = this.#pending.splice(0);
    for (const [i, p] of pending.entries()) {
      // A body delimited by the end of the connection is complete when the connection ends cleanly.
      if (i === 0 && this.#phase.name === 'until-close' && this.error === undefined)
        this.#settle(p, 'response');
      else this.#settle(p, i === 0 && p.status !== undefined ? 'truncated' : 'none');
    }
  }
}
