import http from 'node:http';
import type { Lameduck } from '@lameduck/core';

export interface App {
  server: http.Server;
  /** Answers every slow request that is waiting, now. */
  finishSlowRequests(): void;
}

/**
 * The server of the walk-through (server.ts listens). Every answer carries the greeting this process
 * read at start-up and its PID, so a restart shows which process, with which code, answered:
 * `/` at once, `/slow` after `slowMs`; `/readyz` is the readiness probe.
 */
export function buildApp(lameduck: Lameduck, greeting: string, slowMs: number): App {
  const waiting = new Set<() => void>();
  const body = `${greeting} (pid ${process.pid})\n`;
  const app: http.RequestListener = (req, res) => {
    res.setHeader('content-type', 'text/plain');
    if (req.url !== '/slow') {
      res.end(body);
      return;
    }
    const answer = (status: number, text: string) => {
      if (!waiting.delete(finish)) return;
      clearTimeout(timer);
      res.statusCode = status;
      res.end(text);
    };
    const finish = () => answer(200, body);
    const timer = setTimeout(finish, slowMs);
    waiting.add(finish);
    // At the drain deadline lameduck aborts this signal: answer now rather than be cut off.
    lameduck.signalFor(req).addEventListener('abort', () => answer(503, 'aborted at the drain deadline\n'));
    process.stdout.write(`slow request started (pid ${process.pid}, ${slowMs} ms)\n`);
  };
  return {
    server: http.createServer(lameduck.handle(app, { readinessPath: '/readyz' })),
    finishSlowRequests: () => {
      for (const finish of [...waiting]) finish();
    },
  };
}
