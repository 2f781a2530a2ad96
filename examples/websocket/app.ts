import http from 'node:http';
import type { Lameduck } from '@lameduck/core';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * Builds an HTTP server with a WebSocket echo endpoint (server.ts listens). `GET /` and `/readyz` are
 * plain HTTP; any WebSocket connection echoes what it receives.
 *
 * During the drain, lameduck hands each upgraded socket to the app through the `upgraded` event: it is
 * no longer HTTP, so only the app can end it properly. The app sends a close frame with code 1001,
 * "going away" ([RFC 6455 §7.4.1](https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1)), which tells
 * the client to reconnect (to another instance) rather than report an error. Without a listener,
 * lameduck would destroy the socket and the client would see 1006, an abnormal closure.
 */
export function buildServer(lameduck: Lameduck): http.Server {
  const server = http.createServer(
    lameduck.handle((_req, res) => res.end('hello\n'), { readinessPath: '/readyz' }),
  );
  // Attached before listen(), so that every connection is seen, upgraded or not.
  lameduck.attach(server);
  const wss = new WebSocketServer({ server });
  // lameduck names the socket; ws holds it inside its WebSocket object: map one to the other.
  const bySocket = new WeakMap<object, WebSocket>();
  wss.on('connection', (ws, req) => {
    bySocket.set(req.socket, ws);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    process.stdout.write(`websocket client connected (${wss.clients.size} open)\n`);
  });
  lameduck.on('upgraded', ({ socket }) => {
    bySocket.get(socket)?.close(1001, 'server shutting down');
  });
  return server;
}
