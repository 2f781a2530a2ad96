import fs from 'node:fs';
import net from 'node:net';
import type { Keeper } from './supervisor.js';

/**
 * The keeper's admin socket (`--control PATH`): a unix socket where `lameduck reload` and `lameduck
 * status` send one JSON line (`{"cmd":"reload"}`) and read one JSON line back. Not to be confused with
 * the control channel between the keeper and each worker (`@lameduck/core/protocol`).
 */
export async function openAdminSocket(controlPath: string, keeper: Keeper): Promise<net.Server> {
  if (fs.existsSync(controlPath)) {
    const alive = await new Promise<boolean>((resolve) => {
      const s = net.connect(controlPath);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (alive)
      throw new Error(`another keeper answers on ${controlPath}; give this one its own --control path`);
    fs.unlinkSync(controlPath);
  }
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl === -1) return;
      socket.removeAllListeners('data');
      let cmd: unknown;
      try {
        cmd = (JSON.parse(buffer.slice(0, nl)) as { cmd?: unknown }).cmd;
      } catch {}
      const answer =
        cmd === 'status'
          ? keeper.status()
          : cmd === 'reload'
            ? keeper.reload()
            : Promise.resolve({ ok: false, reason: `unknown command ${JSON.stringify(cmd)}` });
      void answer.then((result) => socket.end(`${JSON.stringify(result)}\n`));
    });
  });
  // Whoever can connect can reload: the socket is the owner's only (see docs/restart.md, trust model).
  // The mode comes from the umask in force when bind(2) creates the file. Node binds a unix socket
  // synchronously inside listen() (outside a cluster worker; `exclusive` keeps it so), so the narrow
  // umask is restored before anything else of the process can create a file; the chmod after is a
  // second guard, not the protection.
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const previous = process.umask(0o177);
  try {
    server.listen({ path: controlPath, exclusive: true });
  } finally {
    process.umask(previous);
  }
  await listening;
  fs.chmodSync(controlPath, 0o600);
  server.unref();
  return server;
}

/** Sends one command to the keeper's admin socket; resolves its answer. */
export function ask(controlPath: string, cmd: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(controlPath);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ cmd })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(buffer) as Record<string, unknown>);
      } catch {
        reject(new Error('the keeper closed the connection without an answer'));
      }
    });
  });
}
