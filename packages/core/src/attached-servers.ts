import fs from 'node:fs';
import type { ConnectionTracker } from './connections.js';
import { afterNextPoll } from './event-loop.js';
import {
  closeAllConnections,
  closeListener,
  type Ownership,
  ownershipOf,
  type ServerKind,
  setOwnership,
  wireServer,
} from './servers.js';
import type { AnyServer } from './types.js';

interface Entry {
  kind: ServerKind;
  explicit: boolean;
  unwire: () => void;
  closed: Promise<void> | undefined;
  isClosed: boolean;
}

/**
 * The servers one lifecycle drains: wired to its connection tracker, marked as owned (so that another
 * lifecycle does not take them), and closed together when the drain begins.
 */
export class AttachedServers {
  readonly #entries = new Map<AnyServer, Entry>();
  readonly #owner: object;
  readonly #tracker: ConnectionTracker;
  readonly #onClosed: () => void;

  /** `owner` identifies the lifecycle in ownership marks; `onClosed` runs when a listener has closed. */
  constructor(owner: object, tracker: ConnectionTracker, onClosed: () => void) {
    this.#owner = owner;
    this.#tracker = tracker;
    this.#onClosed = onClosed;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(server: AnyServer): boolean {
    return this.#entries.has(server);
  }

  kindOf(server: AnyServer): ServerKind | undefined {
    return this.#entries.get(server)?.kind;
  }

  /** Another lifecycle's mark on this server, if any. */
  foreignOwner(server: AnyServer): Ownership | undefined {
    const owner = ownershipOf(server);
    return owner !== undefined && owner.id !== this.#owner ? owner : undefined;
  }

  /** Starts draining this server with the others; `explicit` when the application attached it itself. */
  add(server: AnyServer, kind: ServerKind, explicit: boolean): void {
    const existing = this.#entries.get(server);
    if (existing) {
      existing.explicit ||= explicit;
      setOwnership(server, this.#mark(server, existing.explicit));
      return;
    }
    const entry: Entry = {
      kind,
      explicit,
      unwire: wireServer(server, kind, this.#tracker),
      closed: undefined,
      isClosed: false,
    };
    this.#entries.set(server, entry);
    setOwnership(server, this.#mark(server, explicit));
    // A server found in the middle of a drain stops accepting too.
    if (this.#tracker.mode === 'draining') this.#close(server, entry);
  }

  /** Stops draining this server (another lifecycle takes it, or this one is disposed). */
  release(server: AnyServer): void {
    const entry = this.#entries.get(server);
    if (entry === undefined) return;
    entry.unwire();
    this.#entries.delete(server);
    if (ownershipOf(server)?.id === this.#owner) setOwnership(server, undefined);
  }

  releaseAll(): void {
    for (const server of [...this.#entries.keys()]) this.release(server);
  }

  /** Every listener stops accepting (new connections are refused by the kernel from here on). */
  closeListeners(): void {
    for (const [server, entry] of this.#entries) this.#close(server, entry);
  }

  /** True once node reported every listener closed. */
  listenersClosed(): boolean {
    for (const entry of this.#entries.values()) if (!entry.isClosed) return false;
    return true;
  }

  /** At the deadline: node's own list catches any HTTP/1 connection the tracker never saw. */
  destroyConnections(): void {
    for (const server of this.#entries.keys()) closeAllConnections(server);
  }

  #close(server: AnyServer, entry: Entry): void {
    // With nothing queued (the usual case) the listener closes synchronously, before the drain's
    // 'drain' event: whoever hears it may rely on new connections being refused.
    const queued = acceptQueueLength(server);
    entry.closed ??= (
      queued === 0 ? closeListener(server) : acceptQueued(server, queued).then(() => closeListener(server))
    ).then(() => {
      entry.isClosed = true;
      this.#onClosed();
    });
  }

  #mark(server: AnyServer, explicit: boolean): Ownership {
    return { id: this.#owner, explicit, release: () => this.release(server) };
  }
}

/** Bound of acceptQueued(): a listener still holding queued connections is closed after this long anyway. */
const ACCEPT_QUEUED_MAX_MS = 1_000;

/**
 * Resolves once the connections that wait in the listener's accept queue now have been accepted.
 * Closing a listening socket makes the kernel reset every connection still in that queue, whose clients
 * may already have sent a request: a reset, where lameduck promises a refusal or an answer. Such a queue
 * builds up while the process is busy (libuv accepts one connection per turn of the event loop). Only
 * what is queued at this moment is waited for (the kernel tells how many, on Linux), so the common case,
 * an empty queue, closes at once: connections that arrive later, such as clients reconnecting after a
 * `Connection: close`, are refused, which is clean. The ones accepted meanwhile are drained like any
 * other (their requests meet the gate).
 */
function acceptQueued(server: AnyServer, queued: number): Promise<void> {
  return new Promise((resolve) => {
    let accepted = 0;
    const onConnection = () => {
      accepted++;
    };
    server.on('connection', onConnection);
    const until = performance.now() + ACCEPT_QUEUED_MAX_MS;
    const turn = () => {
      if (accepted < queued && performance.now() < until && server.listening) {
        afterNextPoll(turn);
        return;
      }
      server.removeListener('connection', onConnection);
      resolve();
    };
    afterNextPoll(turn);
  });
}

/**
 * Connections waiting in the kernel's accept queue of this TCP listening socket: the `rx_queue` column
 * of its line in /proc/net/tcp(6), found by the socket's inode. 0 where that cannot be read (another
 * platform, a unix socket, no descriptor).
 */
export function acceptQueueLength(server: AnyServer): number {
  if (process.platform !== 'linux') return 0;
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 0;
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (inode === undefined) return 0;
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const queued = listenQueueIn(table, inode);
      if (queued !== undefined) return queued;
    }
  } catch {}
  return 0;
}

/** Bound of the head of a table that listenQueueIn() reads (the listening sockets of the machine). */
const LISTEN_SECTION_MAX_BYTES = 4 * 1_048_576;

/**
 * The accept queue of the listening socket with this inode, from the head of one table, or undefined
 * when it is not there. The kernel lists every listening socket before any connection, so reading stops
 * at the first line in another state: a server with 10 000 open connections has a table of megabytes,
 * and reading and splitting all of it blocked the event loop for about 150 ms at the drain's start.
 */
function listenQueueIn(table: string, inode: string): number | undefined {
  const fd = fs.openSync(table, 'r');
  try {
    const chunk = Buffer.allocUnsafe(65_536);
    let partial = '';
    let header = true;
    for (let read = 0; read < LISTEN_SECTION_MAX_BYTES; ) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return undefined;
      read += n;
      const lines = (partial + chunk.toString('latin1', 0, n)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        // sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode …
        const fields = line.trim().split(/\s+/);
        if (fields[3] !== '0A') return undefined; // past the listening sockets (0A is TCP_LISTEN)
        if (fields[9] === inode) return Number.parseInt(fields[4]?.split(':')[1] ?? '0', 16) || 0;
      }
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
