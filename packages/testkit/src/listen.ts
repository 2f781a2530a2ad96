import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Listens on 127.0.0.1 with an ephemeral port and returns the port. */
export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return portOf(server);
}

function portOf(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  return address.port;
}

/** The URL of a server that is listening (or about to: this waits for 'listening'). */
export async function urlOf(server: net.Server, secure = false): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  return `${secure ? 'https' : 'http'}://127.0.0.1:${portOf(server)}`;
}

/** Test cleanup: drops every connection and closes the listener if it is still open. */
export async function closeServer(server: net.Server): Promise<void> {
  (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Ports that were free on 127.0.0.1 a moment ago, all different (for processes told a port to bind). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  const ports = await Promise.all(servers.map((server) => listen(server)));
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * Resolves once something accepts connections on 127.0.0.1:`port` (a process that prints nothing when
 * it is ready): retries a refused connect every 20 ms, for at most `boundMs`.
 */
export async function accepting(port: number, boundMs = 30_000): Promise<void> {
  const end = performance.now() + boundMs;
  for (;;) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (performance.now() > end)
      throw new Error(`nothing accepted connections on ${port} within ${boundMs} ms`);
    await sleep(20);
  }
}
