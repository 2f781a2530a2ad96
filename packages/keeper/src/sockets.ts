import { spawn } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { type Address, formatAddress } from '@lameduck/core/protocol';

/** A socket the keeper holds: a raw descriptor it passes on and never accepts on. */
export interface HeldSocket {
  fd: number;
  /** The `LISTEN_FDNAMES` entry: the `--listen` name, systemd's `FileDescriptorName=`, or `unknown`. */
  name: string;
  /** The bound address (`127.0.0.1:8080`, `[::]:8080`, `/run/app.sock`), for logs and `status`. */
  address: string;
  /** Where it came from: bound by the keeper (`--listen`) or inherited from systemd. */
  origin: 'listen' | 'systemd';
  /**
   * The handle that owns the descriptor; closing it closes the keeper's copy (and unlinks a unix socket
   * the keeper bound). Undefined once released.
   */
  handle: { fd: number; close(): void } | undefined;
}

/** What logs and `status` call a socket: its `--listen` name when it has one, else its address. */
export function socketLabel(socket: HeldSocket): string {
  return socket.name === 'unknown' || socket.name === socket.address ? socket.address : socket.name;
}

type CreateServerHandle = (
  address: string | null,
  port: number | null,
  addressType: number | null,
  fd?: number,
  flags?: number,
) => unknown;

/**
 * Binds an address without listening on it in this process. `net.Server#listen` would start accepting
 * here, and a connection accepted by the keeper is one no worker can serve; `net._createServerHandle`
 * (what `node:cluster` uses for shared handles) binds only. {@link listenWithoutAccepting} then makes
 * the sockets listen.
 */
export async function bindAddress(address: Address, name: string): Promise<HeldSocket> {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') {
    throw new Error(
      'this version of node has no net._createServerHandle; run under systemd socket activation instead',
    );
  }
  let handle: unknown;
  let shown: string;
  if ('path' in address) {
    handle = create(address.path, -1, -1);
    if (typeof handle === 'number' && errname(handle) === 'EADDRINUSE' && (await isStale(address.path))) {
      fs.unlinkSync(address.path);
      handle = create(address.path, -1, -1);
    }
    shown = address.path;
  } else {
    let host = address.host;
    if (host !== undefined && net.isIP(host) === 0) host = (await dns.lookup(host)).address;
    // No host: every interface, IPv6 with IPv4 mapped (node's own default for listen(port)).
    handle = host === undefined ? create(null, address.port, 6) : create(host, address.port, net.isIP(host));
    shown = formatAddress({ port: address.port, host });
  }
  if (typeof handle === 'number') {
    throw new Error(`could not bind ${formatAddress(address)}: ${errname(handle)}`);
  }
  const h = handle as { fd: number; close(): void; getsockname?: (out: Record<string, unknown>) => number };
  if (typeof h.getsockname === 'function') {
    const out: Record<string, unknown> = {};
    // libuv defers a TCP bind error (EADDRINUSE) to listen(), which happens in another process on a
    // socket that is then not bound at all: an unbound socket reads back as port 0.
    if (h.getsockname(out) !== 0 || Number(out.port) === 0) {
      h.close();
      throw new Error(`could not bind ${formatAddress(address)}: EADDRINUSE (or another bind error)`);
    }
    shown = formatAddress({ port: Number(out.port), host: String(out.address) });
  }
  return { fd: h.fd, name, address: shown, origin: 'listen', handle: h };
}

function errname(code: number): string {
  try {
    return getSystemErrorName(code);
  } catch {
    return `error ${code}`;
  }
}

/** A unix socket file nobody listens on any more (left by a process that was killed). */
function isStale(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/**
 * Puts bound sockets into the listening state without ever accepting on them. `listen(2)` has to be
 * called by some process, and any node process that calls it through libuv also starts polling the
 * socket at its next event-loop turn. So a throwaway node process inherits the descriptors, calls
 * listen on each, and exits before its event loop ever runs. The sockets stay listening for as long as
 * the keeper holds them: connections queue in the kernel until a worker accepts them, and an address
 * already in use is reported here, at start-up, instead of by the first worker.
 */
export function listenWithoutAccepting(sockets: readonly HeldSocket[], backlog = 511): Promise<void> {
  const script = `
const net = require('node:net');
const fs = require('node:fs');
const errors = [];
for (let i = 0; i < ${sockets.length}; i++) {
  const handle = net._createServerHandle(null, null, null, 3 + i);
  const err = typeof handle === 'number' ? handle : handle.listen(${backlog});
  errors.push(err);
}
fs.writeSync(1, JSON.stringify(errors));
process.exit(0);
`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      stdio: ['ignore', 'pipe', 'inherit', ...sockets.map((s) => s.fd)],
      env: {},
    });
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', () => {
      let errors: unknown;
      try {
        errors = JSON.parse(out);
      } catch {
        reject(new Error('the listen helper process failed'));
        return;
      }
      const failed = (errors as number[])
        .map((err, i) => (err === 0 ? undefined : `${sockets[i]?.address}: ${errname(err)}`))
        .filter((e) => e !== undefined);
      if (failed.length > 0) reject(new Error(`could not listen on ${failed.join(', ')}`));
      else resolve();
    });
  });
}

/**
 * Takes a descriptor inherited from systemd the way {@link bindAddress} holds its own: a server handle
 * that owns it (never listened on here, so nothing is accepted), which reads the real address and lets
 * the keeper close its copy on stop. A unix socket has no address to read and is shown by its name.
 */
export function holdInherited(fd: number, name: string): HeldSocket {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  // With a descriptor, node asserts that no address or port is given: null, as node:cluster passes.
  const handle = typeof create === 'function' ? create(null, null, null, fd) : undefined;
  if (typeof handle !== 'object' || handle === null) {
    // No handle: the keeper still closes its copy on stop, by descriptor.
    return { fd, name, address: name, origin: 'systemd', handle: { fd, close: () => fs.closeSync(fd) } };
  }
  const h = handle as { fd: number; close(): void; getsockname?: (out: Record<string, unknown>) => number };
  const out: Record<string, unknown> = {};
  const address =
    typeof h.getsockname === 'function' && h.getsockname(out) === 0
      ? formatAddress({ port: Number(out.port), host: String(out.address) })
      : name;
  return { fd, name, address, origin: 'systemd', handle: h };
}

/**
 * Closes the keeper's copy of every socket (once). The socket lives on in the workers that listen on
 * it; when the last of them closes its listener the socket is gone and new connections are refused.
 */
export function releaseSockets(sockets: readonly HeldSocket[]): void {
  for (const s of sockets) {
    const handle = s.handle;
    s.handle = undefined;
    try {
      handle?.close();
    } catch {}
  }
}
