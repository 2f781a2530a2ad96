/**
 * The server under test, in a child process: one framework, one protocol, the planned hooks, real
 * signals and real exit codes. Configured by `LAMEDUCK_CHAOS` (a ServerPlan plus TLS material), run
 * directly, as a keeper's worker, or as the new process of a self-upgrade (same command, same env).
 *
 * It writes one JSON line per fact on stderr, each with `chaos` (what), `pid` and `t` (ms on the
 * machine's monotonic clock, comparable across processes): `listening`, `conn` (an accepted connection's client port),
 * `seen` (a request reached lameduck), `run` (its handler started), `hook`, `appClose`, `shutdown`,
 * `listenerClose`, `drain`, `deadline`, `report`, `forceExit`, `log` (lameduck's own log lines) and `exit`.
 */
import dc from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Http2Server, IncomingHttpHeaders } from 'node:http2';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { bindRestart, type LameduckLogger } from '@lameduck/core';
import { type WebSocket, WebSocketServer } from 'ws';
import { buildApp } from './apps.js';
import { now } from './clock.js';
import type { ServerPlan } from './plan.js';
import { idOf } from './routes.js';

export interface ChildConfig extends ServerPlan {
  tls?: { key: string; cert: string };
}

const config = JSON.parse(process.env.LAMEDUCK_CHAOS ?? '{}') as ChildConfig;

function emit(chaos: string, fields: object = {}): void {
  process.stderr.write(`${JSON.stringify({ chaos, pid: process.pid, t: now(), ...fields })}\n`);
}

process.on('exit', (code) => emit('exit', { code }));
process.on('uncaughtException', (error) => {
  emit('crash', { error: String(error?.stack ?? error) });
  process.exit(70);
});

const log =
  (level: string) =>
  (obj: object, msg?: string): void =>
    emit('log', { level, msg, ...obj });
const logger: LameduckLogger = { info: log('info'), warn: log('warn'), error: log('error') };

const built = await buildApp({
  framework: config.framework,
  protocol: config.protocol,
  options: { ...config.options, hookTimeout: config.hookTimeout, logger },
  tls: config.tls,
  handover: config.restart !== 'none',
  onRun: (id) => emit('run', { id }),
  onAppClose: () => emit('appClose'),
});
const { lameduck, server } = built;

for (const hook of config.hooks) {
  lameduck.onShutdown(
    hook.name,
    async () => {
      emit('hook', { name: hook.name });
      if (hook.behaviour === 'fail') throw new Error(`${hook.name} failed as planned`);
      // Stuck on I/O: the handle keeps the process alive, as a socket waiting for an answer would.
      if (hook.behaviour === 'hang') await sleep(3_600_000);
      if (hook.behaviour === 'stall') await new Promise(() => {});
      await sleep(hook.ms);
    },
    { phase: hook.phase, timeout: hook.timeout },
  );
}
lameduck.on('shutdown', ({ reason }) => emit('shutdown', { reason }));
lameduck.on('drain', (left) => emit('drain', left));
lameduck.on('deadline', (left) => emit('deadline', left));
lameduck.on('forceExit', (info) => emit('forceExit', info));
lameduck.on('report', (report) => emit('report', { report }));

// When the listener closes (lameduck calls server.close()): taken just before the close, so that a
// client's refusal or queued-then-reset connection can be compared with it without any doubt.
const close = server.close.bind(server) as (cb?: (err?: Error) => void) => unknown;
(server as Server).close = (cb?: (err?: Error) => void) => {
  emit('listenerClose');
  close(cb);
  return server as Server;
};

// What the server saw: every accepted connection, and every request that reached lameduck (before
// the gate, so a request answered 503 is `seen` without `run`).
(server as Server).on('connection', (socket: { remotePort?: number }) =>
  emit('conn', { port: socket.remotePort }),
);
// Parse errors make node close a connection without a request: log them, then do what node does
// without a listener (lib/_http_server.js socketOnError): answer only if no response began, and destroy.
const errorAnswers: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};
(server as Server).on(
  'clientError',
  (
    error: NodeJS.ErrnoException,
    socket: Duplex & { remotePort?: number; _httpMessage?: { headersSent: boolean } },
  ) => {
    emit('clientError', { port: socket.remotePort, code: error.code, message: error.message });
    if (socket.writable && !socket._httpMessage?.headersSent) {
      const status = errorAnswers[error.code ?? ''] ?? '400 Bad Request';
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy(error);
  },
);
dc.subscribe('http.server.request.start', (message) =>
  emit('seen', { id: idOf((message as { request: IncomingMessage }).request.url) }),
);
if (config.protocol === 'h2' || config.protocol === 'h2c') {
  (server as Http2Server).on('stream', (_stream: unknown, headers: IncomingHttpHeaders) =>
    emit('seen', { id: idOf(headers[':path']) }),
  );
}

if (config.websockets !== 'off') {
  const wss = new WebSocketServer({ server: server as Server as import('node:http').Server, path: '/ws' });
  const open = new Map<Duplex, WebSocket>();
  // A socket lameduck announced before the WebSocket handshake on it was complete.
  const announced = new WeakSet<Duplex>();
  (server as Server).prependListener('upgrade', (req: IncomingMessage) =>
    emit('seen', { id: idOf(req.url) }),
  );
  wss.on('connection', (ws, req) => {
    emit('run', { id: idOf(req.url) });
    open.set(req.socket, ws);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
    ws.on('close', () => open.delete(req.socket));
    if (announced.has(req.socket)) ws.close(1001, 'shutting down');
  });
  if (config.websockets === 'close') {
    lameduck.on('upgraded', ({ socket }) => {
      const ws = open.get(socket);
      if (ws === undefined) announced.add(socket);
      else ws.close(1001, 'shutting down');
    });
  }
}

if (config.restart === 'self') {
  bindRestart(lameduck, { signal: 'SIGHUP', settle: 200, readyTimeout: 30_000, logger });
}

const target = config.restart === 'keeper' ? 'http' : { port: 0, host: '127.0.0.1' };
emit('listening', { port: await built.listen(target) });
