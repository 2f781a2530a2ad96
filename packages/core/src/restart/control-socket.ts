import fs from 'node:fs';
import net from 'node:net';
import type { Keeper } from './keeper.js';
import type { KeeperSnapshot } from './keeper-status.js';

/**
 * The keeper's control socket: a unix socket where `lameduck reload` and `lameduck status` send one JSON
 * line (`{"cmd":"reload"}`) and read one JSON line back.
 */
export async function openControl(controlPath: string, keeper: Keeper): Promise<net.Server> {
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

function seconds(ms: unknown): string {
  return typeof ms === 'number' ? `${(ms / 1000).toFixed(1)}s` : '-';
}

function progress(p: { inFlight?: number; connections?: number }): string {
  if (p.inFlight === undefined) return '';
  const requests = p.inFlight === 1 ? 'request' : 'requests';
  const connections = p.connections === 1 ? 'connection' : 'connections';
  return `${p.inFlight} ${requests} in flight, ${p.connections} ${connections} open`;
}

/** The human-readable `lameduck status` (the `--json` answer is a {@link KeeperSnapshot}). */
export function formatStatus(s: KeeperSnapshot): string {
  const k = s.keeper;
  const lines = [
    `keeper ${k.pid}  ${k.state}  up ${seconds(k.uptimeMs)}  serving generation ${k.serving ?? '-'}  reloads ${k.reloads.done} done, ${k.reloads.rolledBack} rolled back`,
  ];
  for (const sock of s.sockets) {
    const name = sock.label === sock.address ? '' : `${sock.label}  `;
    lines.push(
      `  socket ${name}${sock.address}  (${sock.origin === 'systemd' ? 'from systemd' : 'bound'}, fd ${sock.fd})`,
    );
  }
  for (const g of s.generations) {
    const draining =
      g.drainingMs === undefined
        ? ''
        : `  draining for ${seconds(g.drainingMs)}${g.inFlight === undefined ? '' : `: ${progress(g)}`}`;
    lines.push(`  generation ${g.id}  ${g.state}  up ${seconds(g.uptimeMs)}${draining}`);
    for (const w of g.workers) {
      const load = w.pid === undefined ? '' : w.inFlight === undefined ? '  (no answer)' : `  ${progress(w)}`;
      lines.push(
        `    worker ${w.slot}  pid ${w.pid ?? '-'}  ${w.state}  up ${seconds(w.uptimeMs)}  restarts ${w.restarts ?? 0}${load}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
