import type { ConnectionTracker } from './connections.js';
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
    entry.closed ??= closeListener(server).then(() => {
      entry.isClosed = true;
      this.#onClosed();
    });
  }

  #mark(server: AnyServer, explicit: boolean): Ownership {
    return { id: this.#owner, explicit, release: () => this.release(server) };
  }
}
