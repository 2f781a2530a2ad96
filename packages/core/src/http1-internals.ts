import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AnyServer } from './types.js';

// What lameduck reads of node's own HTTP/1 bookkeeping. Node internals, each used only where node
// itself relies on it (its closeIdleConnections() and closeAllConnections()) or read once when a drain
// begins; every reader copes with its absence.

/**
 * Node's own bookkeeping on an HTTP/1 socket: `_httpMessage` is the response being written (node's
 * `closeIdleConnections()` relies on it too), `parser.incoming` the last request parsed.
 */
export type MessageSocket = Socket & {
  _httpMessage?: ServerResponse | null;
  parser?: { incoming?: IncomingMessage | null } | null;
};

/** The response node is writing on this socket when it is unfinished and not tracked yet. */
export function activeResponse(
  socket: Socket,
  tracked: WeakMap<object, unknown>,
): (ServerResponse & { req: IncomingMessage }) | undefined {
  const res = (socket as MessageSocket)._httpMessage;
  if (res == null || res.writableFinished || res.req === undefined || tracked.has(res.req)) return undefined;
  return res as ServerResponse & { req: IncomingMessage };
}

/** An entry of node's list of an HTTP/1 server's connections: the connection's parser. */
export interface ListedConnection {
  socket?: Socket | null;
}

/**
 * Node's internals an HTTP/1 drain reads, with what it learns of them kept per instance (one per
 * tracker): the symbols are found once, and the timers' clock is read once per synchronous pass.
 */
export class Http1Internals {
  #connectionsKey: symbol | undefined;
  #socketTimerKey: symbol | undefined;
  /** timersNow()'s reading, kept until the current task's microtasks have run. */
  #clock: number | undefined;

  /**
   * Node's own list of the connections of an HTTP/1 (or HTTPS) server: the one
   * `closeIdleConnections()` and `closeAllConnections()` walk, kept by node from the moment the server
   * listens (`kConnections`). While it exists, lameduck keeps nothing per connection of its own until the
   * drain starts and reads this list then. Undefined on servers without it (HTTP/2, not listening yet).
   */
  connections(server: AnyServer): { all(): ListedConnection[] } | undefined {
    this.#connectionsKey ??= Object.getOwnPropertySymbols(server).find(
      (k) => k.description === 'http.server.connections',
    );
    if (this.#connectionsKey === undefined) return undefined;
    const list = (server as unknown as Record<symbol, unknown>)[this.#connectionsKey] as
      | { all?: unknown }
      | undefined;
    return typeof list?.all === 'function' ? (list as { all(): ListedConnection[] }) : undefined;
  }

  /**
   * How long node's own timer on this socket says it has been idle, in milliseconds, when it has one.
   * Node arms it with `keepAliveTimeout` when a keep-alive response finishes (and with `server.timeout`
   * when set) and restarts it on every read and write, so its start is the socket's last activity, on
   * the timers' clock (the `timeout` symbol of net.Socket, `_idleStart`). Undefined when it is not there.
   */
  idleForMs(socket: Socket): number | undefined {
    this.#socketTimerKey ??= Object.getOwnPropertySymbols(socket).find((k) => k.description === 'timeout');
    const key = this.#socketTimerKey;
    const timer = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
    const started = (timer as { _idleStart?: unknown } | null | undefined)?._idleStart;
    if (typeof started !== 'number') return undefined;
    const present = this.#timersNow();
    return present === undefined ? undefined : Math.max(0, present - started);
  }

  /**
   * The timers' clock now, read from a probe timer's start. Read once for a whole pass: a drain that
   * starts with 10 000 sockets asks for each, synchronously, and the loop's clock does not move within.
   */
  #timersNow(): number | undefined {
    if (this.#clock === undefined) {
      const probe = setTimeout(() => {}, 0);
      const present = (probe as unknown as { _idleStart?: unknown })._idleStart;
      clearTimeout(probe);
      if (typeof present !== 'number') return undefined;
      this.#clock = present;
      queueMicrotask(() => {
        this.#clock = undefined;
      });
    }
    return this.#clock;
  }
}

/**
 * True when this response announces `Connection: close`: in its header, or because node will write it
 * (node sends `Connection: close` and closes after the response when `shouldKeepAlive` is false and no
 * header says otherwise; a header that does makes node set it back to true).
 */
export function announcesClose(res: ServerResponse): boolean {
  if (res.shouldKeepAlive === false) return true;
  const value = res.getHeader('connection');
  return typeof value === 'string' && /\bclose\b/i.test(value);
}
