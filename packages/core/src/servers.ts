import http from 'node:http';
import type { Http2Session } from 'node:http2';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { ConnectionTracker } from './connections.js';
import type { AnyServer } from './types.js';

export type ServerKind = 'http' | 'https' | 'http2' | 'http2-secure';

/** Which kind of server this is, or undefined for anything lameduck cannot drain. */
export function serverKind(value: unknown): ServerKind | undefined {
  if (!(value instanceof net.Server)) return undefined;
  // http2 servers are not exported as classes; `updateSettings` is their public mark.
  if (typeof (value as { updateSettings?: unknown }).updateSettings === 'function') {
    return value instanceof tls.Server ? 'http2-secure' : 'http2';
  }
  if (value instanceof https.Server) return 'https';
  if (value instanceof http.Server) return 'http';
  return undefined;
}

/**
 * Per-server marker of the lifecycle that drains it, kept on the server object itself so that two
 * lifecycles (or two copies of this package) agree on ownership without any module state.
 */
const owner = Symbol.for('lameduck.owner');

export interface Ownership {
  id: object;
  explicit: boolean;
  release: () => void;
}

export function ownershipOf(server: AnyServer): Ownership | undefined {
  return (server as unknown as Record<symbol, Ownership | undefined>)[owner];
}

export function setOwnership(server: AnyServer, value: Ownership | undefined): void {
  const s = server as unknown as Record<symbol, Ownership | undefined>;
  if (value === undefined) delete s[owner];
  else s[owner] = value;
}

/** Subscribes the tracker to one server's connection events; returns the unsubscribe function. */
export function wireServer(server: AnyServer, kind: ServerKind, tracker: ConnectionTracker): () => void {
  // biome-ignore lint/suspicious/noExplicitAny: node's listener signatures differ per event
  type Listener = (...args: any[]) => void;
  const listeners: [string, Listener][] = [];
  const on = (event: string, fn: Listener) => {
    server.on(event, fn);
    listeners.push([event, fn]);
  };
  // A check queued before the unwiring must not put a listener back after it.
  let wired = true;

  tracker.addServer(server);
  if (kind === 'http') on('connection', (socket: Socket) => tracker.trackSocket(socket, server));
  if (kind === 'https' || kind === 'http2-secure') {
    on('connection', (socket: Socket) => tracker.trackHandshake(socket));
    on('secureConnection', (socket: TLSSocket) =>
      tracker.secured(socket, socket.alpnProtocol === 'h2', server),
    );
  }
  if (kind === 'http2' || kind === 'http2-secure') {
    on('session', (session: Http2Session) => tracker.trackSession(session));
  }
  // A pipelined request whose response node queues must be noted while serving (see
  // ConnectionTracker#onServingRequest), before the application's listener, which may answer at once.
  // The lifecycle's handle() wrappers note it themselves; this listener exists only while the server
  // has another 'request' listener, so a server served through handle() alone has one listener, and
  // node's emit does not copy its listener array for every request.
  const noteRequest =
    kind === 'http2-secure'
      ? // With `allowHTTP1`, node serves HTTP/1 connections with its http code, which emits the same
        // 'request' (HTTP/2 streams arrive there too: they are tracked through their session instead).
        (req: http.IncomingMessage, res: http.ServerResponse) => {
          if (req.httpVersionMajor === 1) tracker.onServingRequest(req, res);
        }
      : (req: http.IncomingMessage, res: http.ServerResponse) => tracker.onServingRequest(req, res);
  const syncRequest = () => {
    if (!wired) return;
    const all = server.listeners('request');
    const needed = all.some((l) => l !== noteRequest && !tracker.isNotingListener(l));
    const ours = all.includes(noteRequest);
    if (needed && !ours) server.prependListener('request', noteRequest);
    if (!needed && ours) server.removeListener('request', noteRequest);
  };
  const notes = kind === 'http' || kind === 'https' || kind === 'http2-secure';

  // An 'upgrade' listener changes what node does with an Upgrade request (without one, it is served as
  // a plain request), and a 'connect' listener what it does with CONNECT (without one, node closes the
  // connection): ours exist only while the application has its own. Either way node takes the socket
  // off its connection list, and the tracker follows it as an upgraded socket.
  const onUpgrade = (req: http.IncomingMessage, socket: Socket) => tracker.onUpgrade(req, socket);
  const handedOver = ['upgrade', 'connect'] as const;
  const sync = (event: (typeof handedOver)[number]) => {
    if (!wired) return;
    const theirs = server.listeners(event).filter((l) => l !== onUpgrade).length;
    const ours = server.listeners(event).includes(onUpgrade);
    if (theirs > 0 && !ours) server.prependListener(event, onUpgrade);
    if (theirs === 0 && ours) server.removeListener(event, onUpgrade);
  };
  // 'newListener' comes before the listener is added: the check waits for it. No request can be
  // emitted in between (requests come from I/O callbacks, after the microtasks).
  const onNewListener = (event: string | symbol) => {
    if (event === 'upgrade' || event === 'connect') queueMicrotask(() => sync(event));
    if (event === 'request' && notes) queueMicrotask(syncRequest);
  };
  // http2 servers with `allowHTTP1` upgrade HTTP/1 connections through node's http code as well.
  if (notes) {
    on('newListener', onNewListener);
    on('removeListener', onNewListener);
    for (const event of handedOver) sync(event);
    syncRequest();
  }

  return () => {
    wired = false;
    tracker.removeServer(server);
    for (const [event, fn] of listeners) server.removeListener(event, fn);
    for (const event of handedOver) server.removeListener(event, onUpgrade);
    server.removeListener('request', noteRequest);
  };
}

/**
 * Stops accepting connections. Resolves when node reports the server closed (every connection gone).
 *
 * `http.Server#close()` (node >= 19) also destroys every socket that is idle at that instant, which
 * resets a client that is just sending on one. lameduck closes idle sockets on its own schedule, so it
 * hides `closeIdleConnections` for the duration of the call and keeps the rest of node's close work.
 */
export function closeListener(server: AnyServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const s = server as unknown as { closeIdleConnections?: () => void };
    const hadOwn = Object.hasOwn(s, 'closeIdleConnections');
    const previous = s.closeIdleConnections;
    if (typeof previous === 'function') s.closeIdleConnections = () => {};
    try {
      server.close(() => resolve());
    } finally {
      if (hadOwn) s.closeIdleConnections = previous;
      else delete s.closeIdleConnections;
    }
  });
}

/** At the deadline: node's own list catches any HTTP/1 connection the tracker never saw. */
export function closeAllConnections(server: AnyServer): void {
  const s = server as unknown as { closeAllConnections?: () => void };
  if (typeof s.closeAllConnections === 'function') s.closeAllConnections();
}
