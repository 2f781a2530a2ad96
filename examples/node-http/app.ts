import http from 'node:http';
import type { Lameduck } from '@lameduck/core';

/**
 * Builds the application server (no listening here, so tests and the entry point share it).
 * Routes: `/` answers at once, `/slow?ms=N` after N ms (aborting at the drain deadline), `/stream`
 * sends ten chunks; `/readyz` and `/livez` are the probes.
 */
export function buildServer(lameduck: Lameduck): http.Server {
  const app: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? 1000);
      const timer = setTimeout(() => res.end(`slept ${ms} ms\n`), ms);
      lameduck.signalFor(req).addEventListener('abort', () => {
        clearTimeout(timer);
        res.statusCode = 503;
        res.end('aborted at the drain deadline\n');
      });
      return;
    }
    if (url.pathname === '/stream') {
      let i = 0;
      const next = () => {
        res.write(`chunk ${i}\n`);
        if (++i < 10) setTimeout(next, 50);
        else res.end();
      };
      next();
      return;
    }
    res.end('hello\n');
  };
  const server = http.createServer(
    lameduck.handle(app, { readinessPath: '/readyz', livenessPath: '/livez' }),
  );
  lameduck.attach(server);
  return server;
}
