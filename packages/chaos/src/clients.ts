import http2 from 'node:http2';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import WebSocket from 'ws';
import { digest, PatternCheck, patternBody } from './body.js';
import { now } from './clock.js';
import { H1Conn, type H1Result, type Verifier, watchLocalPort } from './http1.js';
import type { RequestPlan, SessionPlan } from './plan.js';

/** What the client saw of one request (or one WebSocket), before the server's log is consulted. */
export interface Attempt {
  id: number;
  session: number;
  kind: SessionPlan['kind'];
  route: RequestPlan['route'] | 'ws';
  /** Client port of its connection, matched against the server's `conn` lines. */
  port: number | undefined;
  /** When its connection was initiated (its SYN left no earlier). */
  connectAt: number;
  /** Sent on a connection that had already carried a complete response (keep-alive reuse). */
  reused: boolean;
  /** Written while an earlier request on the same connection was unanswered. */
  pipelined: boolean;
  startedAt: number;
  endedAt: number;
  /**
   * `response`: complete; `truncated`: head without the whole body; `none`: the connection or stream
   * ended without a byte of answer; `refused`: the connection was refused; `stream-refused`: HTTP/2
   * refused the stream (REFUSED_STREAM, or above GOAWAY's last stream) or the client could not open
   * one on a session that had received GOAWAY; `timeout`: still open when the trial's bound hit.
   */
  result: 'response' | 'truncated' | 'none' | 'refused' | 'stream-refused' | 'timeout';
  /** An earlier response on this connection announced `Connection: close`. */
  afterClose?: boolean;
  status?: number;
  connectionClose?: boolean;
  retryAfter?: string;
  verified?: boolean;
  /** For a 2xx whose body failed the check: what arrived. */
  body?: string;
  text?: string;
  error?: string;
  ws?: { opened: boolean; code?: number; sent: number; echoed: number; inOrder: boolean };
}

export interface ClientContext {
  port: number;
  /** TLS for HTTP/1 and HTTP/2 (`h2`, `https`). */
  secure: boolean;
  nextId(): number;
  attempts: Attempt[];
  /** Connections, sessions and sockets still open, destroyed by `abort()`. */
  live: Set<{ destroy(): void }>;
  timedOut: boolean;
}

/** Expects an exact short body. */
class TextCheck implements Verifier {
  readonly #expected: string;
  #got = '';
  constructor(expected: string) {
    this.#expected = expected;
  }
  feed(chunk: Buffer): void {
    if (this.#got.length <= this.#expected.length) this.#got += chunk.toString('latin1');
  }
  get complete(): boolean {
    return this.#got === this.#expected;
  }
}

interface Prepared {
  id: number;
  method: 'GET' | 'POST';
  path: string;
  body: Buffer | undefined;
  verifier: Verifier;
  pause: number;
}

function prepare(id: number, req: RequestPlan): Prepared {
  switch (req.route) {
    case 'work':
      return {
        id,
        method: 'GET',
        path: `/work?id=${id}&ms=${req.ms}&size=${req.size}&abort=${req.abort}`,
        body: undefined,
        verifier: new PatternCheck(id, req.size),
        pause: 0,
      };
    case 'stream':
      return {
        id,
        method: 'GET',
        path: `/stream?id=${id}&chunks=${req.chunks}&every=${req.every}`,
        body: undefined,
        verifier: new PatternCheck(id, req.chunks * 1_024),
        pause: 0,
      };
    case 'big':
      return {
        id,
        method: 'GET',
        path: `/big?id=${id}&size=${req.size}`,
        body: undefined,
        verifier: new PatternCheck(id, req.size),
        pause: req.pause,
      };
    case 'upload': {
      const body = patternBody(id, req.size);
      return {
        id,
        method: 'POST',
        path: `/upload?id=${id}`,
        body,
        verifier: new TextCheck(digest(body)),
        pause: 0,
      };
    }
  }
}

function h1Head(p: Prepared): string {
  const body =
    p.body === undefined
      ? ''
      : `Content-Type: application/octet-stream\r\nContent-Length: ${p.body.length}\r\n`;
  return `${p.method} ${p.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${body}\r\n`;
}

/** Writes `body` in `parts` pieces, `every` ms apart (a body still uploading during the drain). */
async function upload(
  write: (chunk: Buffer) => boolean,
  body: Buffer,
  parts: number,
  every: number,
): Promise<void> {
  const size = Math.ceil(body.length / parts);
  for (let at = 0; at < body.length; at += size) {
    if (at > 0) await sleep(every);
    if (!write(body.subarray(at, at + size))) return;
  }
}

function newAttempt(
  ctx: ClientContext,
  session: number,
  kind: SessionPlan['kind'],
  p: Prepared | number,
): Attempt {
  const id = typeof p === 'number' ? p : p.id;
  const route = typeof p === 'number' ? 'ws' : (p.path.slice(1, p.path.indexOf('?')) as RequestPlan['route']);
  const attempt: Attempt = {
    id,
    session,
    kind,
    route,
    port: undefined,
    connectAt: now(),
    reused: false,
    pipelined: false,
    startedAt: now(),
    endedAt: 0,
    result: 'timeout',
  };
  ctx.attempts.push(attempt);
  return attempt;
}

function settleH1(ctx: ClientContext, attempt: Attempt, conn: H1Conn, r: H1Result): void {
  attempt.endedAt = r.at;
  attempt.port = conn.localPort;
  attempt.connectAt = conn.connectAt;
  attempt.afterClose = r.afterClose;
  if (ctx.timedOut) return;
  if (!conn.connected && r.kind === 'none' && conn.error === 'ECONNREFUSED') {
    attempt.result = 'refused';
  } else {
    attempt.result = r.kind;
  }
  if (conn.error !== undefined) attempt.error = conn.error;
  if (r.status !== undefined) {
    attempt.status = r.status;
    attempt.connectionClose = /\bclose\b/i.test(r.headers?.connection ?? '');
    if (r.headers?.['retry-after'] !== undefined) attempt.retryAfter = r.headers['retry-after'];
    if (r.verified !== undefined) attempt.verified = r.verified;
    if (r.text !== undefined) attempt.text = r.text;
  }
}

function openH1(ctx: ClientContext): H1Conn {
  const conn = new H1Conn(ctx.port, ctx.secure);
  ctx.live.add(conn);
  conn.socket.once('close', () => ctx.live.delete(conn));
  return conn;
}

/** Sends one request on `conn` (written at once, or its head trickled) and waits for its outcome. */
async function h1Request(
  ctx: ClientContext,
  session: number,
  kind: SessionPlan['kind'],
  conn: H1Conn,
  req: RequestPlan,
  trickle = 0,
): Promise<Attempt> {
  const p = prepare(ctx.nextId(), req);
  const attempt = newAttempt(ctx, session, kind, p);
  attempt.reused = conn.answered > 0;
  const result = conn.expect(p.verifier, p.pause);
  if (trickle > 0) {
    if ((await conn.opened) === undefined) await conn.trickle(Buffer.from(h1Head(p)), trickle);
  } else {
    conn.write(h1Head(p));
  }
  if (p.body !== undefined && req.route === 'upload') {
    void upload(
      (c) => !conn.socket.destroyed && conn.socket.write(c) !== null,
      p.body,
      req.chunks,
      req.every,
    );
  }
  settleH1(ctx, attempt, conn, await result);
  return attempt;
}

async function single(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'single' }>) {
  const conn = openH1(ctx);
  await h1Request(ctx, i, s.kind, conn, s.request);
  conn.destroy();
}

async function slowhead(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'slowhead' }>) {
  const conn = openH1(ctx);
  await h1Request(ctx, i, s.kind, conn, s.request, s.gap);
  conn.destroy();
}

/** Like an agent: the next request goes out the moment the last response ended, on the same connection
 * unless that response announced `Connection: close` (then on a new one). Stops at the first failure. */
async function keepalive(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'keepalive' }>) {
  let conn = openH1(ctx);
  for (const req of s.requests) {
    if (conn.closed || conn.closeAnnounced) {
      conn.destroy();
      conn = openH1(ctx);
    }
    const attempt = await h1Request(ctx, i, s.kind, conn, req);
    if (attempt.result !== 'response') break;
  }
  conn.destroy();
}

async function pipelined(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'pipeline' }>) {
  const conn = openH1(ctx);
  const prepared = s.requests.map((req) => prepare(ctx.nextId(), req));
  const waits = prepared.map((p, n) => {
    const attempt = newAttempt(ctx, i, s.kind, p);
    attempt.pipelined = n > 0;
    return conn.expect(p.verifier).then((r) => settleH1(ctx, attempt, conn, r));
  });
  conn.write(prepared.map(h1Head).join(''));
  await Promise.all(waits);
  conn.destroy();
}

const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

/** HTTP/2: streams opened one after another on a session; after GOAWAY or a lost session, a new one. */
async function h2(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'h2' }>) {
  const origin = `${ctx.secure ? 'https' : 'http'}://127.0.0.1:${ctx.port}`;
  let session: http2.ClientHttp2Session | undefined;
  let goaway = false;
  let port: number | undefined;
  let connected = false;
  let connectAt = now();
  let sessionError: string | undefined;
  const connect = () => {
    connectAt = now();
    const fresh = http2.connect(origin, {
      // Our own socket, to learn its client port as soon as TCP connects (before TLS).
      createConnection: () => {
        const socket = ctx.secure
          ? tls.connect({
              host: '127.0.0.1',
              port: ctx.port,
              rejectUnauthorized: false,
              ALPNProtocols: ['h2'],
            })
          : net.connect(ctx.port, '127.0.0.1');
        watchLocalPort(socket, (p) => {
          if (session === fresh) port = p;
        });
        socket.once('connect', () => {
          if (session === fresh) connected = true;
        });
        return socket;
      },
    });
    session = fresh;
    goaway = false;
    port = undefined;
    connected = false;
    sessionError = undefined;
    ctx.live.add(fresh);
    fresh.on('goaway', () => {
      if (session === fresh) goaway = true;
    });
    fresh.on('error', (err: NodeJS.ErrnoException) => {
      if (session === fresh) sessionError = err.code ?? err.message;
    });
    fresh.on('close', () => ctx.live.delete(fresh));
  };
  const running: Promise<void>[] = [];
  for (const req of s.requests) {
    if (req.after > 0) await sleep(req.after);
    if (ctx.timedOut) break;
    if (session === undefined || session.closed || session.destroyed || goaway) connect();
    const p = prepare(ctx.nextId(), req);
    const attempt = newAttempt(ctx, i, s.kind, p);
    attempt.connectAt = connectAt;
    const on = session!;
    running.push(
      new Promise<void>((resolve) => {
        let stream: http2.ClientHttp2Stream;
        const headers = {
          ':method': p.method,
          ':path': p.path,
          ...(p.body ? { 'content-type': 'application/octet-stream' } : {}),
        };
        try {
          stream = on.request(headers, { endStream: p.body === undefined });
        } catch (err) {
          // The client itself refuses: the session had received GOAWAY or was already gone.
          attempt.result = 'stream-refused';
          attempt.error = (err as NodeJS.ErrnoException).code;
          attempt.endedAt = now();
          resolve();
          return;
        }
        const text: Buffer[] = [];
        let ended = false;
        stream.on('response', (h) => {
          attempt.status = Number(h[':status']);
          if (p.pause > 0) {
            stream.pause();
            setTimeout(() => stream.resume(), p.pause);
          }
        });
        stream.on('data', (chunk: Buffer) => {
          if (attempt.status !== undefined && attempt.status < 300) p.verifier.feed(chunk);
          else if (text.length < 4) text.push(chunk);
        });
        stream.on('end', () => {
          ended = true;
        });
        let cause: string | undefined;
        stream.on('error', (err: NodeJS.ErrnoException) => {
          attempt.error ??= `${err.code}: ${err.message}`;
          cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
        });
        stream.on('close', () => {
          attempt.endedAt = now();
          attempt.port = port;
          if (ctx.timedOut) return resolve();
          if (attempt.status !== undefined) {
            // Node's client also ends a stream that was reset (after the session went away): only a
            // stream that ended without a reset code is complete.
            attempt.result = ended && !stream.rstCode ? 'response' : 'truncated';
            if (attempt.status < 300) attempt.verified = p.verifier.complete;
            if (attempt.verified === false) attempt.body = String(p.verifier);
            else attempt.text = Buffer.concat(text).toString('utf8', 0, 200);
          } else if (stream.rstCode === REFUSED_STREAM) {
            attempt.result = 'stream-refused';
          } else if (!connected && (sessionError ?? cause) === 'ECONNREFUSED') {
            attempt.result = 'refused';
          } else {
            attempt.result = 'none';
            if (goaway) attempt.error = `${attempt.error ?? ''} (after GOAWAY, rst ${stream.rstCode})`;
            if (sessionError !== undefined) attempt.error = `${attempt.error ?? ''} session: ${sessionError}`;
          }
          resolve();
        });
        if (p.body !== undefined && req.route === 'upload') {
          void upload(
            (c) => !stream.destroyed && stream.write(c) !== null,
            p.body,
            req.chunks,
            req.every,
          ).then(() => {
            if (!stream.destroyed) stream.end();
          });
        }
      }),
    );
  }
  await Promise.all(running);
  session?.close();
}

/** A WebSocket that echoes: it stays open until the server closes it (the drain must say 1001). */
async function websocket(ctx: ClientContext, i: number, s: Extract<SessionPlan, { kind: 'ws' }>) {
  const id = ctx.nextId();
  const attempt = newAttempt(ctx, i, s.kind, id);
  const outcome = { opened: false, sent: 0, echoed: 0, inOrder: true } as NonNullable<Attempt['ws']>;
  attempt.ws = outcome;
  let connected = false;
  attempt.connectAt = now();
  const ws = new WebSocket(`${ctx.secure ? 'wss' : 'ws'}://127.0.0.1:${ctx.port}/ws?id=${id}`, {
    rejectUnauthorized: false,
    createConnection: ((options: net.NetConnectOpts & tls.ConnectionOptions) => {
      const s = ctx.secure ? tls.connect(options) : net.connect(options);
      s.once('connect', () => {
        connected = true;
      });
      watchLocalPort(s, (port) => {
        attempt.port = port;
      });
      return s;
    }) as unknown as typeof net.createConnection,
  });
  const handle = { destroy: () => ws.terminate() };
  ctx.live.add(handle);
  ws.on('error', (err: NodeJS.ErrnoException) => {
    attempt.error ??= err.code ?? err.message;
  });
  ws.on('unexpected-response', (_req, res) => {
    attempt.status = res.statusCode;
    attempt.connectionClose = /\bclose\b/i.test(String(res.headers.connection ?? ''));
    ws.terminate();
  });
  ws.on('message', (data) => {
    if (String(data) !== `${id}:${outcome.echoed}`) outcome.inOrder = false;
    outcome.echoed++;
  });
  ws.on('open', () => {
    outcome.opened = true;
    void (async () => {
      while (outcome.sent < s.messages && ws.readyState === WebSocket.OPEN) {
        ws.send(`${id}:${outcome.sent++}`);
        await sleep(s.every);
      }
    })();
  });
  const code = await new Promise<number>((resolve) => ws.once('close', (closeCode) => resolve(closeCode)));
  ctx.live.delete(handle);
  attempt.endedAt = now();
  if (ctx.timedOut) return;
  outcome.code = code;
  if (outcome.opened || attempt.status !== undefined) attempt.result = 'response';
  else if (!connected && attempt.error === 'ECONNREFUSED') attempt.result = 'refused';
  else attempt.result = 'none';
}

/** Runs one planned session to its end. */
export function runSession(ctx: ClientContext, i: number, s: SessionPlan): Promise<void> {
  switch (s.kind) {
    case 'single':
      return single(ctx, i, s);
    case 'keepalive':
      return keepalive(ctx, i, s);
    case 'pipeline':
      return pipelined(ctx, i, s);
    case 'slowhead':
      return slowhead(ctx, i, s);
    case 'ws':
      return websocket(ctx, i, s);
    case 'h2':
      return h2(ctx, i, s);
  }
}
