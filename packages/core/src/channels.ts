import dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AnyServer } from './types.js';

/** What node publishes on `http.server.request.start`, before any 'request' listener runs. */
export interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
  server: AnyServer;
}

function subscribe(name: string, fn: (message: unknown) => void): () => void {
  dc.subscribe(name, fn);
  return () => dc.unsubscribe(name, fn);
}

/**
 * Zero-configuration discovery through node's diagnostics channels: every server that starts listening
 * (`tracing:net.server.listen:asyncEnd`) and every connection a server accepts (`net.server.socket`).
 * Returns the function that unsubscribes both.
 */
export function subscribeDiscovery(
  onListening: (server: AnyServer) => void,
  onConnection: (socket: Socket, server: AnyServer) => void,
): () => void {
  const offListen = subscribe('tracing:net.server.listen:asyncEnd', (message) => {
    onListening((message as { server: AnyServer }).server);
  });
  const offSocket = subscribe('net.server.socket', (message) => {
    const socket = (message as { socket: Socket }).socket;
    const server = (socket as Socket & { server?: AnyServer }).server;
    if (server !== undefined) onConnection(socket, server);
  });
  return () => {
    offListen();
    offSocket();
  };
}

/**
 * Every HTTP/1 request of the process, published before any 'request' listener runs. Subscribed only
 * while a drain runs: while serving, nothing per request is subscribed (node builds the message only
 * when someone listens).
 */
export function subscribeRequests(onRequest: (message: RequestStart) => void): () => void {
  return subscribe('http.server.request.start', (message) => onRequest(message as RequestStart));
}
