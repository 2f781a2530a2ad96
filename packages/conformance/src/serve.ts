import { once } from 'node:events';
import type { Server } from 'node:net';

/** The URL of a server that is listening (or about to: this waits for 'listening'). */
export async function urlOf(server: Server, secure = false): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  return `${secure ? 'https' : 'http'}://127.0.0.1:${address.port}`;
}

/** Listens on 127.0.0.1 with an ephemeral port and returns the URL. */
export function listen(server: Server, secure = false): Promise<string> {
  server.listen(0, '127.0.0.1');
  return urlOf(server, secure);
}

/** Test cleanup: drops every connection and closes the listener if it is still open. */
export async function closeServer(server: Server): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
