// Shutdown under keep-alive load: 50 keep-alive clients in this process send GET / back to back to a
// contender (server.ts, its own process); SIGTERM arrives while they do. Each client goes on until it is
// refused a connection, or for a bounded time; what every request after SIGTERM got is counted.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTs } from '../child.js';
import { wallNow } from '../clock.js';
import { classify, get, type Outcome } from '../load.js';
import type { Contender } from './contenders.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ResetsRun {
  /** Requests answered 200 before SIGTERM (the load was running). */
  before: number;
  /** After SIGTERM, by outcome. */
  after: Record<Outcome, number>;
}

export async function resetsUnderLoad(
  contender: Contender,
  options: { clients: number; warmRequests: number; afterMs: number },
): Promise<ResetsRun> {
  const server = spawnTs(path.join(here, 'server.ts'), [contender]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  try {
    const { port } = (await server.message((m) => m.event === 'listening')) as unknown as { port: number };
    const after: Record<Outcome, number> = { ok: 0, rejected: 0, reset: 0, other: 0 };
    let before = 0;
    let signalAt = 0;
    await Promise.all(
      Array.from({ length: options.clients }, async () => {
        // Bounded in count as well as in time.
        for (let i = 0; i < 20_000; i++) {
          if (signalAt > 0 && wallNow() - signalAt > options.afterMs) return;
          const sentAfterSignal = signalAt > 0;
          const { status, error } = await get(agent, port);
          const outcome = classify(status, error);
          if (!sentAfterSignal) {
            if (outcome === 'ok') before++;
            if (before === options.warmRequests && signalAt === 0) {
              signalAt = wallNow();
              server.process.kill('SIGTERM');
            }
            continue;
          }
          after[outcome]++;
          // Refused: nothing listens any more. After any other failure a client reconnects, and its
          // next attempt is counted too.
          if (error === 'ECONNREFUSED') return;
        }
      }),
    );
    return { before, after };
  } finally {
    agent.destroy();
    server.kill();
  }
}
