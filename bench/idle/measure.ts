// Idle keep-alive connections at scale, bare (`server.close()` + `closeIdleConnections()`) vs lameduck,
// pairs alternated: heap bytes per idle connection, and the time from the start of the shutdown until
// every connection is closed. The server runs in a process of its own (server.ts); the connections come
// from this process, so neither holds more than about `count` descriptors (the hard limit here is 20 000).
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTs } from '../child.js';
import { wallNow } from '../clock.js';
import type { BenchContext } from '../context.js';
import { alternate, type Summary, summarize } from '../stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const modes = ['bare', 'lameduck'] as const;
type Mode = (typeof modes)[number];

export interface IdleRun {
  /** Heap growth per idle connection, after a full GC (bytes). */
  perConnection: number;
  /** Server side: from the start of the shutdown until it resolved / close() called back (ms). */
  closeMs: number;
  /** Client side: from the start of the shutdown until the last connection saw its close (ms). */
  lastClientCloseMs: number;
}

export interface IdleResult {
  count: number;
  bare: IdleRun[];
  lameduck: IdleRun[];
  /** Per pair: lameduck's heap per connection minus bare's, the lifecycle's own cost. */
  ownBytes: Summary;
}

export async function measureIdle(mode: Mode, count: number): Promise<IdleRun> {
  const server = spawnTs(path.join(here, 'server.ts'), [mode, String(count)], { nodeArgs: ['--expose-gc'] });
  const sockets: net.Socket[] = [];
  try {
    const { port } = (await server.message((m) => m.event === 'listening')) as unknown as { port: number };
    let lastClose = 0;
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, async () => {
          const s = net.connect(port, '127.0.0.1');
          sockets.push(s);
          s.on('close', () => {
            lastClose = wallNow();
          });
          s.on('error', () => {});
          await once(s, 'connect');
          s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          await once(s, 'data');
        }),
      );
    }
    const heap = await server.message((m) => m.event === 'heap', 60_000);
    server.process.kill('SIGTERM');
    const closed = await server.message((m) => m.event === 'closed', 60_000);
    await server.exited;
    // Every FIN has arrived once each client socket emitted 'close'; they are read in one pass.
    await Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close'))));
    return {
      perConnection: heap.perConnection as number,
      closeMs: closed.ms as number,
      lastClientCloseMs: lastClose - (closed.start as number),
    };
  } finally {
    for (const s of sockets) s.destroy();
    server.kill();
  }
}

/** 1 000 and 10 000 idle connections (100 and 500 in the smoke run), bare and lameduck alternated. */
export async function idle(ctx: BenchContext): Promise<IdleResult[]> {
  const counts = (ctx.smoke ? [100, 500] : [1_000, 10_000]).filter((n) => ctx.wants(String(n)));
  const results: IdleResult[] = [];
  for (const count of counts) {
    const runs = await alternate(
      ctx.rounds,
      modes,
      (mode) => measureIdle(mode, count),
      (mode, round, r) =>
        ctx.log(
          `idle ${count} pair ${round + 1} ${mode}: ${r.perConnection} B/conn, closed in ${r.closeMs.toFixed(1)} ms (clients ${r.lastClientCloseMs.toFixed(1)} ms)`,
        ),
    );
    results.push({
      count,
      ...runs,
      ownBytes: summarize(runs.bare.map((a, i) => runs.lameduck[i]!.perConnection - a.perConnection)),
    });
  }
  return results;
}
