import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes, LameduckError } from './errors.js';
import { PollBatch } from './event-loop.js';
import { activeResponse, announcesClose, Http1Internals, type MessageSocket } from './http1-internals.js';
import { Http2Sessions } from './http2-sessions.js';
import type { AnyRequest, AnyServer } from './types.js';
import { answerUnavailable } from './unavailable.js';

/**
 * How far the drain has gone, as seen by connections:
 * - `serving`: normal operation;
 * - `closing`: the drain delay: serve everything, but with `Connection: close` / GOAWAY after the response;
 * - `draining`: listeners are closed: late requests meet the gate, idle sockets are reaped.
 */
export type TrackerMode = 'serving' | 'closing' | 'draining';

interface RequestRecord {
  req: IncomingMessage;
  res: ServerResponse;
  conn: Http1Conn;
  controller: AbortController | undefined;
  /** Arrived after the listeners closed. */
  late: boolean;
  /** Arrived behind a response that already announced `Connection: close`: it must not be processed (RFC 9112 §9.6). */
  doomed: boolean;
  /** We set `Connection: close` on this response (as opposed to the application). */
  markedByUs: boolean;
  rejected: boolean;
  /** Its response had not left the process when the deadline destroyed the socket. */
  cut: boolean;
  done: boolean;
}

interface Http1Conn {
  kind: 'http1';
  socket: Socket;
  pending: RequestRecord[];
  /** performance.now() when the socket last became idle (or connected). */
  idleSince: number;
  bytesAtIdle: number;
  upgraded: IncomingMessage | undefined;
  reaped: boolean;
  forced: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface HandshakeConn {
  kind: 'tls';
  socket: Socket;
  idleSince: number;
  reaped: boolean;
  forced: boolean;
  timer: NodeJS.Timeout | undefined;
}

type Conn = Http1Conn | HandshakeConn;

export interface TrackerStats {
  completed: number;
  rejected: number;
  aborted: number;
  disconnected: number;
  closedIdle: number;
  closedAfterResponse: number;
  upgradedClosed: number;
  forced: number;
}

export interface TrackerOptions {
  idleGrace: number;
  lateRequests: 'reject' | 'serve';
  retryAfter: number | false;
  /** Something was added or finished: the drain re-checks whether it is done. */
  onChange: () => void;
  /** An upgraded socket must close; returns false when nobody listens, so the tracker destroys it. */
  onUpgraded: (socket: Duplex, request: IncomingMessage) => boolean;
}

/** The requests of a socket that has none tracked: shared, so an idle connection allocates no array. */
const noRequests: RequestRecord[] = Object.freeze([]) as unknown as RequestRecord[];

function handshakeKey(socket: Socket): string | undefined {
  return socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Knows every connection of the servers it is given and every request on them, from events only: the
 * drain is complete the moment `idle` turns true, without polling.
 */
export class ConnectionTracker {
  readonly stats: TrackerStats = {
    completed: 0,
    rejected: 0,
    aborted: 0,
    disconnected: 0,
    closedIdle: 0,
    closedAfterResponse: 0,
    upgradedClosed: 0,
    forced: 0,
  };
  #mode: TrackerMode = 'serving';
  #countDuringShutdown = false;
  #inFlight = 0;
  readonly #conns = new Map<Socket, Conn>();
  readonly #sessions: Http2Sessions;
  /** The servers whose connections node lists: read when the drain starts (see nodeConnections). */
  readonly #servers = new Set<AnyServer>();
  readonly #node = new Http1Internals();
  /** Idle sockets to close once the loop has polled again (see #reapAfterPoll). */
  readonly #toReap = new PollBatch<Http1Conn | HandshakeConn>((conn) => this.#reap(conn));
  readonly #handshakes = new Map<string, Socket>();
  readonly #requests = new WeakMap<object, RequestRecord>();
  readonly #opts: TrackerOptions;
  #deadlineReason: LameduckError | undefined;
  /**
   * The last request (or HTTP/2 stream) to arrive since the shutdown began, and when, on
   * performance.now()'s clock; the one before it, for a probe to take its own arrival back. The
   * adaptive drain delay ends once nothing has arrived for a while.
   */
  #lastArrival = 0;
  #lastArrivalKey: object | undefined;
  #arrivalBefore = 0;
  #lateRequests: 'reject' | 'serve';
  /**
   * Request listeners (the lifecycle's handle() wrappers) that note pipelined requests themselves: a
   * server whose every 'request' listener is one of them needs no listener of the tracker's (see
   * wireServer), so its requests cost one call less while serving.
   */
  readonly #notingListeners = new WeakSet<object>();

  /** 'close' of a tracked HTTP/1 socket (`this` is the socket). */
  readonly #onHttp1Close: (this: Socket) => void;

  constructor(options: TrackerOptions) {
    this.#opts = options;
    const tracker = this;
    this.#onHttp1Close = function (this: Socket) {
      const conn = tracker.#conns.get(this);
      if (conn?.kind === 'http1') tracker.#onSocketClose(conn);
    };
    this.#lateRequests = options.lateRequests;
    this.#sessions = new Http2Sessions({
      mode: () => this.#mode,
      streamStarted: (stream) => {
        this.#inFlight++;
        if (this.#mode !== 'serving') this.#arrived(stream);
      },
      streamEnded: (outcome) => {
        this.#inFlight--;
        if (this.#countDuringShutdown) this.stats[outcome]++;
        this.#opts.onChange();
      },
      sessionClosed: (forced) => {
        if (this.#countDuringShutdown) {
          if (forced) this.stats.forced++;
          else this.stats.closedAfterResponse++;
        }
        this.#opts.onChange();
      },
    });
  }

  get lateRequests(): 'reject' | 'serve' {
    return this.#lateRequests;
  }

  /**
   * During a hand-over another process accepts on the same listening socket, so a late request is
   * served (with `Connection: close`): a 503 would fail a request that could succeed.
   */
  serveLateRequests(): void {
    this.#lateRequests = 'serve';
  }

  get mode(): TrackerMode {
    return this.#mode;
  }

  /**
   * Requests in flight. While serving, the request being answered on each HTTP/1 socket is not tracked
   * (that would cost every request something); node knows it as the socket's current response, so it is
   * counted from there on demand.
   */
  get inFlight(): number {
    if (this.#mode !== 'serving') return this.#inFlight;
    let untracked = 0;
    for (const conn of this.#conns.values()) {
      if (conn.kind === 'http1' && activeResponse(conn.socket, this.#requests) !== undefined) untracked++;
    }
    for (const socket of this.#listedUntracked()) {
      if (activeResponse(socket, this.#requests) !== undefined) untracked++;
    }
    return this.#inFlight + untracked;
  }

  /** The servers' sockets that node lists and this tracker does not track yet. */
  #listedUntracked(servers: Iterable<AnyServer> = this.#servers): Socket[] {
    const sockets: Socket[] = [];
    for (const server of servers) {
      for (const entry of this.#node.connections(server)?.all() ?? []) {
        const socket = entry.socket;
        if (socket != null && !socket.destroyed && !this.#conns.has(socket)) sockets.push(socket);
      }
    }
    return sockets;
  }

  /**
   * The connections of this server are drained with the others. While node lists them, nothing is kept
   * per connection until the drain starts; a server added during the drain has its connections taken
   * over at once.
   */
  addServer(server: AnyServer): void {
    this.#servers.add(server);
    if (this.#mode !== 'serving') this.#adoptListed([server]);
  }

  /**
   * Tracks the sockets node lists for these servers, with the response each is writing, and marks the
   * last response of each with `Connection: close` (once draining, trackSocket schedules the reap of an
   * idle one).
   */
  #adoptListed(servers?: Iterable<AnyServer>): void {
    for (const socket of this.#listedUntracked(servers)) {
      this.trackSocket(socket);
      const conn = this.#conns.get(socket);
      if (conn?.kind !== 'http1') continue;
      this.#adoptActive(conn);
      this.#markClose(conn);
    }
  }

  removeServer(server: AnyServer): void {
    this.#servers.delete(server);
  }

  /** performance.now() when the last request arrived since the shutdown began (or when it began). */
  get lastArrival(): number {
    return this.#lastArrival;
  }

  /**
   * This request was a readiness or liveness probe: it does not count as traffic for the adaptive drain
   * delay (a load balancer's health checks keep coming after it stopped routing requests here).
   */
  probeAnswered(request: AnyRequest): void {
    const key = 'stream' in request && request.stream !== undefined ? request.stream : request;
    if (key !== this.#lastArrivalKey) return;
    this.#lastArrival = this.#arrivalBefore;
    this.#lastArrivalKey = undefined;
  }

  #arrived(key: object): void {
    this.#arrivalBefore = this.#lastArrival;
    this.#lastArrival = performance.now();
    this.#lastArrivalKey = key;
  }

  get openConnections(): number {
    const tracked = this.#conns.size + this.#sessions.size;
    return this.#mode === 'serving' ? tracked + this.#listedUntracked().length : tracked;
  }

  get idle(): boolean {
    return this.#inFlight === 0 && this.#conns.size === 0 && this.#sessions.size === 0;
  }

  /**
   * A plain TCP socket (HTTP/1) or a TLS socket after its handshake, of `server` when known. While
   * serving, a socket that node lists for its server is left to that list (read when the drain starts):
   * an idle keep-alive connection then costs lameduck nothing. Idempotent.
   */
  trackSocket(socket: Socket, server?: AnyServer): void {
    if (this.#conns.has(socket) || socket.destroyed) return;
    if (this.#mode === 'serving' && server !== undefined && this.#node.connections(server) !== undefined)
      return;
    const conn: Http1Conn = {
      kind: 'http1',
      socket,
      pending: noRequests,
      idleSince: performance.now(),
      bytesAtIdle: 0,
      upgraded: undefined,
      reaped: false,
      forced: false,
      timer: undefined,
    };
    this.#conns.set(socket, conn);
    // One function shared by every socket, not a closure each: an idle keep-alive connection costs the
    // tracker its entry and nothing more.
    socket.on('close', this.#onHttp1Close);
    if (this.#mode === 'draining') this.#scheduleReap(conn);
  }

  /** A raw socket whose TLS handshake is under way: it holds the drain, and is reaped if it stays silent. */
  trackHandshake(socket: Socket): void {
    if (this.#conns.has(socket) || socket.destroyed) return;
    const conn: HandshakeConn = {
      kind: 'tls',
      socket,
      idleSince: performance.now(),
      reaped: false,
      forced: false,
      timer: undefined,
    };
    this.#conns.set(socket, conn);
    const key = handshakeKey(socket);
    if (key !== undefined) this.#handshakes.set(key, socket);
    socket.once('close', () => {
      if (key !== undefined && this.#handshakes.get(key) === socket) this.#handshakes.delete(key);
      this.#untrack(conn, conn.reaped ? 'idle' : 'other');
    });
    if (this.#mode === 'draining') this.#scheduleReap(conn);
  }

  /** The TLS handshake finished: from now on the TLS socket (or its HTTP/2 session) stands for the connection. */
  secured(tlsSocket: Socket, http2: boolean, server?: AnyServer): void {
    const key = handshakeKey(tlsSocket);
    const raw = key === undefined ? undefined : this.#handshakes.get(key);
    if (raw !== undefined && key !== undefined) {
      this.#handshakes.delete(key);
      const conn = this.#conns.get(raw);
      if (conn?.kind === 'tls') {
        clearTimeout(conn.timer);
        this.#conns.delete(raw);
      }
    }
    if (!http2) this.trackSocket(tlsSocket, server);
  }

  /**
   * An HTTP/1 request starts. From the drain's first moment this is called for every request (the
   * lifecycle subscribes to node's `http.server.request.start`, published before any 'request'
   * listener runs). Idempotent.
   */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#requests.has(req)) return;
    const conn = this.#http1Conn(req.socket as Socket);
    if (conn === undefined) return;
    clearTimeout(conn.timer);
    conn.timer = undefined;
    if (conn.pending === noRequests) conn.pending = [];
    conn.pending.push(this.#newRecord(req, res, conn));
    if (this.#mode !== 'serving') {
      this.#arrived(req);
      this.#markClose(conn);
    }
  }

  /**
   * The server's 'request' event while serving: the per-request hot path, so it does nothing for the
   * usual request, which node answers on its socket at once (the drain finds it there when it starts).
   * A pipelined request whose response node queues behind the one being written is remembered: once
   * the drain starts, nothing else leads to that response, and it may be the one that must carry
   * `Connection: close`.
   */
  onServingRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#mode !== 'serving' || (req.socket as MessageSocket)._httpMessage === res) return;
    this.onRequest(req, res);
  }

  /**
   * A pipelined request noted by a request listener of the lifecycle (handle()) rather than by the
   * server listener: only for a server this tracker drains, as the server listener is only on those.
   */
  onServingPipelined(req: IncomingMessage, res: ServerResponse): void {
    const server = (req.socket as Socket & { server?: AnyServer }).server;
    if (server !== undefined && this.#servers.has(server)) this.onServingRequest(req, res);
  }

  /** Marks `listener` as one that notes pipelined requests itself (see #notingListeners). */
  addNotingListener(listener: object): void {
    this.#notingListeners.add(listener);
  }

  isNotingListener(listener: object): boolean {
    return this.#notingListeners.has(listener);
  }

  #http1Conn(socket: Socket): Http1Conn | undefined {
    let conn = this.#conns.get(socket);
    if (conn === undefined || conn.kind !== 'http1') {
      this.trackSocket(socket);
      conn = this.#conns.get(socket);
      if (conn === undefined || conn.kind !== 'http1') return undefined;
    }
    return conn;
  }

  #newRecord(req: IncomingMessage, res: ServerResponse, conn: Http1Conn): RequestRecord {
    const record: RequestRecord = {
      req,
      res,
      conn,
      controller: undefined,
      late: this.#mode === 'draining',
      doomed: conn.pending.some((r) => r.res.headersSent && announcesClose(r.res)),
      markedByUs: false,
      rejected: false,
      cut: false,
      done: false,
    };
    this.#requests.set(req, record);
    this.#inFlight++;
    res.once('close', () => this.#finishRequest(record));
    return record;
  }

  /**
   * Starts tracking the response node is writing on this socket, if it is not tracked yet: at the
   * drain's start for every socket, and after each response for the one node takes from its pipelining
   * queue next. It goes first: node answers it before anything queued behind it.
   */
  #adoptActive(conn: Http1Conn): RequestRecord | undefined {
    const res = activeResponse(conn.socket, this.#requests);
    if (res === undefined) return undefined;
    const record = this.#newRecord(res.req, res, conn);
    if (conn.pending === noRequests) conn.pending = [];
    conn.pending.unshift(record);
    return record;
  }

  /**
   * True when lameduck has answered (or must drop) this request and the handler must not run.
   * The 503 is sent here and not when the request is first seen: only a caller that stops its handler
   * may answer 503, which tells the client the request was not processed. Without a gate (zero-config)
   * a late request is served, with `Connection: close`.
   */
  gate(req: IncomingMessage): boolean {
    if (this.#mode === 'serving') return false;
    const record = this.#requests.get(req);
    if (record === undefined) return false;
    if (record.doomed || record.rejected) return true;
    if (record.late && this.#lateRequests === 'reject') {
      this.#reject(record);
      return true;
    }
    return false;
  }

  onUpgrade(req: IncomingMessage, socket: Duplex): void {
    // Node takes an upgraded socket off its connection list: it is tracked from here, whatever the mode.
    const conn = this.#http1Conn(socket as Socket);
    if (conn === undefined) return;
    // Node publishes no request.start for an Upgrade or CONNECT request: it counts as traffic here.
    if (this.#mode !== 'serving') this.#arrived(req);
    conn.upgraded = req;
    clearTimeout(conn.timer);
    if (this.#mode === 'draining') this.#closeUpgraded(conn);
  }

  trackSession(session: Http2Session): void {
    this.#sessions.track(session);
  }

  /** The AbortSignal of a request: it fires when the drain deadline passes while the request runs. */
  signalFor(request: AnyRequest): AbortSignal {
    if ('stream' in request && request.stream !== undefined) {
      return this.#sessions.signalFor(request.stream) ?? new AbortController().signal;
    }
    let record = this.#requests.get(request);
    if (record === undefined) {
      // An HTTP/1 request being answered while serving is not tracked until someone asks for its signal.
      // Nor is its socket, when node lists it: both are tracked from here.
      const socket = (request as IncomingMessage).socket as MessageSocket | null;
      if (socket != null && socket._httpMessage?.req === request) {
        const conn = this.#http1Conn(socket);
        if (conn !== undefined) record = this.#adoptActive(conn);
      }
    }
    if (record === undefined) return new AbortController().signal;
    if (record.controller === undefined) {
      record.controller = new AbortController();
      if (this.#deadlineReason && !record.done) record.controller.abort(this.#deadlineReason);
    }
    return record.controller.signal;
  }

  /** Start counting for the report. */
  startCounting(): void {
    this.#countDuringShutdown = true;
  }

  /** The drain delay: every response from now on closes its connection. */
  enterClosing(): void {
    if (this.#mode !== 'serving') return;
    this.#mode = 'closing';
    this.#lastArrival = performance.now();
    this.#adoptListed();
    this.#forEachConn((conn) => {
      if (conn.kind === 'http1') {
        this.#adoptActive(conn);
        this.#markClose(conn);
      }
    });
    this.#sessions.goawayAll();
  }

  /** The listeners are closed: mark, reap and GOAWAY everything, and ask upgraded sockets to close. */
  enterDraining(): void {
    if (this.#mode === 'draining') return;
    this.#mode = 'draining';
    this.#sessions.goawayAll();
    this.#forEachConn((conn) => {
      if (conn.kind === 'tls') {
        this.#scheduleReap(conn);
      } else if (conn.upgraded) {
        this.#closeUpgraded(conn);
      } else {
        this.#markClose(conn);
        this.#scheduleReap(conn);
      }
    });
  }

  /**
   * The deadline: abort every in-flight request's signal, let synchronous reactions to it run, then
   * destroy what remains.
   */
  force(reason: LameduckError): Promise<void> {
    this.#deadlineReason = reason;
    this.#forEachConn((conn) => {
      if (conn.kind === 'http1') for (const r of conn.pending) if (!r.done) r.controller?.abort(reason);
    });
    this.#sessions.abortAll(reason);
    // A ref'd immediate on purpose: an unref'd one does not stop the event loop from blocking in poll,
    // and would wait for unrelated I/O. It lives for one turn of the loop.
    return new Promise((resolve) => {
      setImmediate(() => {
        this.#forEachConn((conn) => {
          // Already closing cleanly after its last response (or an answer to the abort): let it.
          if (conn.kind === 'http1' && conn.pending.length === 0 && conn.socket.writableEnded) return;
          conn.forced = true;
          // destroy() cancels node's queued writes, and node still emits 'finish' for them (the write
          // callback runs without `_hadError`): decide now which responses were cut.
          if (conn.kind === 'http1') for (const r of conn.pending) r.cut = !r.res.writableFinished;
          conn.socket.destroy();
        });
        this.#sessions.cancelAll();
        resolve();
      });
    });
  }

  /**
   * The process is about to exit in the middle of the drain (a second signal): every HTTP/2 session is
   * destroyed with CANCEL now, so its open streams reach the client as reset, not as complete. HTTP/1
   * needs nothing: a body cut by the exit is short of its length or its last chunk, which clients see.
   */
  resetStreams(): void {
    this.#sessions.cancelAll();
  }

  /** Stop tracking without touching any socket (the lifecycle was disposed). */
  dispose(): void {
    this.#deadlineReason ??= new LameduckError(ErrorCodes.DISPOSED, 'The lameduck lifecycle was disposed.');
    this.#forEachConn((conn) => clearTimeout(conn.timer));
    this.#conns.clear();
    this.#sessions.clear(this.#deadlineReason);
    this.#handshakes.clear();
    this.#servers.clear();
    this.#toReap.clear();
  }

  #forEachConn(fn: (conn: Conn) => void): void {
    for (const conn of [...this.#conns.values()]) fn(conn);
  }

  /**
   * Puts `Connection: close` on the last response of the socket whose headers are not out yet, and
   * takes it off earlier ones we marked: with pipelining, closing after an earlier response would drop
   * requests the client already sent (RFC 9112 §9.3.2, §9.6).
   */
  #markClose(conn: Http1Conn): void {
    const last = conn.pending.at(-1);
    if (last === undefined || last.doomed || last.res.headersSent) return;
    // A request parsed after the last tracked one is queued behind it (pipelined while serving, before
    // tracking began): closing after `last` would drop it. It gets the mark when it comes up.
    const parsed = (conn.socket as MessageSocket).parser?.incoming;
    if (parsed != null && parsed !== last.req && !this.#requests.has(parsed)) return;
    for (const r of conn.pending) {
      if (r !== last && r.markedByUs && !r.res.headersSent) {
        r.res.removeHeader('connection');
        r.res.shouldKeepAlive = true;
        r.markedByUs = false;
      }
    }
    if (!last.markedByUs && !announcesClose(last.res)) {
      // The header says it; `shouldKeepAlive` makes node say it (and close after the response) even when
      // the application removes every header before answering, as Koa's error handler does.
      last.res.setHeader('Connection', 'close');
      last.res.shouldKeepAlive = false;
      last.markedByUs = true;
    }
  }

  #reject(record: RequestRecord): void {
    record.rejected = true;
    answerUnavailable(record.req, record.res, this.#opts.retryAfter);
  }

  #finishRequest(record: RequestRecord): void {
    if (record.done) return;
    record.done = true;
    const conn = record.conn;
    const i = conn.pending.indexOf(record);
    if (i !== -1) conn.pending.splice(i, 1);
    this.#inFlight--;
    // Node has just handed the socket to the next queued response, if there is one.
    if (this.#mode !== 'serving' && !conn.socket.destroyed) this.#adoptActive(conn);
    if (this.#countDuringShutdown) {
      if (record.rejected || record.doomed) this.stats.rejected++;
      else if (record.cut) this.stats.aborted++;
      else if (record.res.writableFinished) this.stats.completed++;
      else if (conn.forced) this.stats.aborted++;
      else this.stats.disconnected++;
    }
    if (conn.pending.length === 0 && !conn.socket.destroyed) {
      conn.idleSince = performance.now();
      conn.bytesAtIdle = conn.socket.bytesRead;
      if (this.#mode === 'draining' && !(record.res.headersSent && announcesClose(record.res))) {
        // The response went out with keep-alive (a stream that began before the drain): the client may
        // reuse the socket, so it gets the same grace as any idle one.
        this.#scheduleReap(conn);
      }
    } else if (this.#mode !== 'serving') {
      this.#markClose(conn);
    }
    this.#opts.onChange();
  }

  #scheduleReap(conn: Http1Conn | HandshakeConn): void {
    if (conn.kind === 'http1' && (conn.pending.length > 0 || conn.upgraded)) return;
    clearTimeout(conn.timer);
    const now = performance.now();
    // Bytes moved since the tracker last saw this socket go idle: either a request is on its way, or the
    // socket served requests while nothing per request was tracked. Node's keep-alive timer on the
    // socket knows which (every read and write restarts it): idle since its last activity. Without that
    // timer, the socket counts as idle from now, the cautious side.
    if (conn.kind === 'http1' && conn.socket.bytesRead > conn.bytesAtIdle) {
      conn.idleSince = now - (this.#node.idleForMs(conn.socket) ?? 0);
      conn.bytesAtIdle = conn.socket.bytesRead;
    }
    const wait = conn.idleSince + this.#opts.idleGrace - now;
    if (wait <= 0) {
      this.#reapAfterPoll(conn);
      return;
    }
    conn.timer = setTimeout(() => this.#scheduleReap(conn), Math.ceil(wait));
    conn.timer.unref();
  }

  /**
   * Closes an idle socket, but only after the event loop has polled for I/O once more. Timers (and the
   * signal or timer that started the drain) run before the poll phase, so after the process was starved
   * of CPU a socket can look idle while its next request already waits in the kernel's receive buffer:
   * closing it then would answer that request with a reset (a close with unread data sends RST). The
   * check phase runs right after the poll phase has read those bytes, so the decision is taken on fresh
   * information (see event-loop.ts).
   */
  #reapAfterPoll(conn: Http1Conn | HandshakeConn): void {
    clearTimeout(conn.timer);
    conn.timer = undefined;
    this.#toReap.add(conn);
  }

  #reap(conn: Http1Conn | HandshakeConn): void {
    if (conn.reaped || conn.socket.destroyed || this.#conns.get(conn.socket) !== conn) return;
    if (conn.kind === 'http1') {
      if (conn.pending.length > 0 || conn.upgraded) return;
      if (conn.socket.bytesRead > conn.bytesAtIdle) {
        // A request is on its way after all: it gets a fresh grace, like any socket that turns idle.
        this.#scheduleReap(conn);
        return;
      }
    }
    conn.reaped = true;
    const socket = conn.socket;
    // FIN first; destroy once it is flushed, without waiting for the client's own FIN.
    socket.end(() => socket.destroy());
  }

  #closeUpgraded(conn: Http1Conn): void {
    if (conn.upgraded === undefined) return;
    if (!this.#opts.onUpgraded(conn.socket, conn.upgraded)) conn.socket.destroy();
  }

  #onSocketClose(conn: Http1Conn): void {
    clearTimeout(conn.timer);
    // Responses queued behind a pipelined one never get a 'close' of their own.
    for (const r of [...conn.pending]) this.#finishRequest(r);
    let how: 'idle' | 'upgraded' | 'response' | 'other' = 'response';
    if (conn.reaped) how = 'idle';
    else if (conn.upgraded) how = 'upgraded';
    this.#untrack(conn, how);
  }

  #untrack(conn: Conn, how: 'idle' | 'upgraded' | 'response' | 'other'): void {
    if (this.#conns.get(conn.socket) !== conn) return;
    this.#conns.delete(conn.socket);
    if (this.#countDuringShutdown) {
      if (conn.forced) this.stats.forced++;
      else if (how === 'idle') this.stats.closedIdle++;
      else if (how === 'upgraded') this.stats.upgradedClosed++;
      else if (how === 'response') this.stats.closedAfterResponse++;
    }
    this.#opts.onChange();
  }
}
