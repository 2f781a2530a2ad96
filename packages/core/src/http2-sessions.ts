import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { addAbortSignal } from 'node:stream';
import type { TrackerMode } from './connections.js';
import type { LameduckError } from './errors.js';

/** How a stream ended, for the report. */
export type StreamOutcome = 'completed' | 'disconnected' | 'aborted';

/** What the HTTP/2 sessions need of the connection tracker they belong to. */
export interface SessionsHost {
  /** How far the drain has gone (see TrackerMode). */
  mode(): TrackerMode;
  /** A stream was opened: one more request in flight. */
  streamStarted(stream: ServerHttp2Stream): void;
  streamEnded(outcome: StreamOutcome): void;
  /** A session closed; `forced` when lameduck destroyed it at the deadline. */
  sessionClosed(forced: boolean): void;
}

interface StreamRecord {
  stream: ServerHttp2Stream;
  controller: AbortController | undefined;
  done: boolean;
}

interface SessionRecord {
  session: Http2Session;
  streams: Set<StreamRecord>;
  goaway: boolean;
  forced: boolean;
}

function ignoreError(): void {}

/**
 * The HTTP/2 sessions of the servers a tracker drains, and their streams. HTTP/2 has what HTTP/1 lacks:
 * GOAWAY (RFC 9113 §6.8) tells the client to open no new stream on the connection while the open ones
 * finish, so a session needs no idle grace and no `Connection: close` bookkeeping.
 */
export class Http2Sessions {
  readonly #sessions = new Map<Http2Session, SessionRecord>();
  readonly #streams = new WeakMap<ServerHttp2Stream, StreamRecord>();
  readonly #host: SessionsHost;
  #deadlineReason: LameduckError | undefined;

  constructor(host: SessionsHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#sessions.size;
  }

  track(session: Http2Session): void {
    if (this.#sessions.has(session) || session.destroyed) return;
    const record: SessionRecord = { session, streams: new Set(), goaway: false, forced: false };
    this.#sessions.set(session, record);
    // Prepended: node's own listener emits the server's 'request' from here, and a handler that asks
    // for its AbortSignal must find the stream already tracked.
    session.prependListener('stream', (stream: ServerHttp2Stream) => this.#onStream(record, stream));
    session.once('close', () => {
      if (this.#sessions.get(session) !== record) return;
      this.#sessions.delete(session);
      this.#host.sessionClosed(record.forced);
    });
    // A session that opens during the drain delay serves its first stream (GOAWAY follows it, below);
    // once the listeners are closed it gets GOAWAY at once.
    if (this.#host.mode() === 'draining') this.#goaway(record);
  }

  /** The stream's AbortSignal, or undefined when the stream is not tracked. */
  signalFor(stream: ServerHttp2Stream): AbortSignal | undefined {
    const record = this.#streams.get(stream);
    if (record === undefined) return undefined;
    if (record.controller === undefined) {
      record.controller = new AbortController();
      if (this.#deadlineReason && !record.done) record.controller.abort(this.#deadlineReason);
    }
    return record.controller.signal;
  }

  /** GOAWAY on every session: open streams finish, the client opens no new ones here. */
  goawayAll(): void {
    for (const record of this.#sessions.values()) this.#goaway(record);
  }

  /** The deadline: every open stream's AbortSignal fires with `reason`. */
  abortAll(reason: LameduckError): void {
    this.#deadlineReason = reason;
    for (const record of this.#sessions.values()) {
      for (const s of record.streams) s.controller?.abort(reason);
    }
  }

  /**
   * Resets every open stream with CANCEL, then destroys every session. A stream is destroyed through an
   * AbortSignal, which node turns into RST_STREAM(CANCEL) without END_STREAM; stream.close(CANCEL) would
   * first end its writable side (END_STREAM), and session.destroy() alone resets with NO_ERROR: a client
   * takes either for the end of a body it has only part of (RFC 9113 §8.1). The 'error' each stream
   * then emits is lameduck's doing, not the application's: it must not become an uncaught exception.
   * The session itself is destroyed without an error, so it emits none, and streams lameduck does not
   * track (server pushes) get node's usual reset.
   */
  cancelAll(): void {
    for (const record of [...this.#sessions.values()]) {
      record.forced = true;
      if (record.session.destroyed) continue;
      for (const s of record.streams) {
        if (s.stream.destroyed) continue;
        s.stream.on('error', ignoreError);
        const cancel = new AbortController();
        addAbortSignal(cancel.signal, s.stream);
        cancel.abort();
      }
      record.session.destroy();
    }
  }

  /** Forgets every session without touching it; later signals fire with `reason`. */
  clear(reason: LameduckError): void {
    this.#deadlineReason ??= reason;
    this.#sessions.clear();
  }

  #onStream(session: SessionRecord, stream: ServerHttp2Stream): void {
    const record: StreamRecord = { stream, controller: undefined, done: false };
    session.streams.add(record);
    this.#streams.set(stream, record);
    this.#host.streamStarted(stream);
    stream.once('close', () => {
      if (record.done) return;
      record.done = true;
      session.streams.delete(record);
      let outcome: StreamOutcome = 'disconnected';
      if (session.forced) outcome = 'aborted';
      else if (stream.rstCode === 0 || stream.rstCode === undefined) outcome = 'completed';
      this.#host.streamEnded(outcome);
    });
    // In the drain delay a session serves the stream it has and then goes away, like `Connection: close`.
    if (this.#host.mode() !== 'serving') this.#goaway(session);
  }

  #goaway(record: SessionRecord): void {
    const { session } = record;
    if (record.goaway || session.closed || session.destroyed) return;
    record.goaway = true;
    session.close();
  }
}
