import net from 'node:net';
import { clearListenEnv, type InheritedFd, parseListenEnv } from './listen-fds.js';

/** An inherited descriptor, as this process uses it. */
export interface InheritedSocket extends InheritedFd {
  claimed: boolean;
  /**
   * A node handle opened on the descriptor to read its address (TCP only has getsockname). Once opened,
   * it is the only owner of the descriptor: the server listens on this very handle.
   */
  handle: { fd: number; getsockname?: (out: Record<string, unknown>) => number } | undefined;
  /** The TCP address, null for a socket that is not TCP, undefined until probed. */
  tcp: { address: string; port: number } | null | undefined;
}

interface InheritedSlot {
  sockets: InheritedSocket[] | undefined;
}

const slotKey = Symbol.for('lameduck.inherited.v1');

/**
 * The descriptors handed to this process, read from the environment on first use and then cleared from
 * it (so that child processes do not misread them). Kept on `globalThis` under a registered symbol: the
 * descriptors belong to the process, and two lifecycles (or two copies of this package) must not take
 * the same one twice.
 */
export function inheritedSockets(env: NodeJS.ProcessEnv = process.env): InheritedSocket[] {
  const g = globalThis as unknown as Record<symbol, InheritedSlot | undefined>;
  g[slotKey] ??= { sockets: undefined };
  const slot = g[slotKey];
  if (slot.sockets === undefined) {
    const fds = parseListenEnv(env, process.pid);
    clearListenEnv(env);
    slot.sockets = fds.map((f) => ({ ...f, claimed: false, handle: undefined, tcp: undefined }));
  }
  return slot.sockets;
}

/**
 * Reads the TCP address of an inherited descriptor. Node has no getsockname for a bare descriptor, so
 * this opens a server handle on it (`net._createServerHandle`, what `node:cluster` uses to share
 * sockets); a unix socket comes back as a pipe handle, which has no address: it is kept (never closed,
 * since it owns the descriptor) and the socket is matched by name only.
 */
export function probeTcp(socket: InheritedSocket): { address: string; port: number } | null {
  if (socket.tcp !== undefined) return socket.tcp;
  const create = (net as unknown as { _createServerHandle?: (...args: unknown[]) => unknown })
    ._createServerHandle;
  if (typeof create !== 'function' || socket.name.startsWith('/')) {
    socket.tcp = null;
    return null;
  }
  const handle = create(null, null, null, socket.fd);
  if (typeof handle !== 'object' || handle === null) {
    socket.tcp = null;
    return null;
  }
  socket.handle = handle as InheritedSocket['handle'];
  const out: Record<string, unknown> = {};
  const getsockname = socket.handle?.getsockname;
  if (typeof getsockname !== 'function' || getsockname.call(socket.handle, out) !== 0) {
    socket.tcp = null;
    return null;
  }
  socket.tcp = { address: String(out.address), port: Number(out.port) };
  return socket.tcp;
}

const wildcard = new Set(['::', '0.0.0.0']);
const loopback = new Set(['127.0.0.1', '::1']);

/** True when a socket bound to `bound` serves what `listen({ port, host })` asked for. */
export function addressMatches(
  bound: { address: string; port: number },
  port: number,
  host?: string,
): boolean {
  if (port !== 0 && bound.port !== port) return false;
  if (host === undefined || host === bound.address) return true;
  if (wildcard.has(host) && wildcard.has(bound.address)) return true;
  if (host === 'localhost' && loopback.has(bound.address)) return true;
  const mapped = bound.address.startsWith('::ffff:') ? bound.address.slice(7) : undefined;
  return mapped === host;
}
