import http from 'node:http';
import type { Lameduck } from '@lameduck/core';

/**
 * Builds the application server (no listening here, so tests and the entry point share it).
 * Routes: `/` answers at once, `/slow?ms=N` after N ms (aborting at the drain deadline), `/stream`
 * sends ten chunks, `POST /echo` answers with the request body; `/readyz` and `/livez` are the probes.
 * Every application response names the process that served it (`X-Instance: <pid>`), which shows a
 * rolling restart moving traffic from one process to the next (the load balancer examples use it).
 */
export function buildServer(lameduck: Lameduck): http.Server {
  const instance = String(process.pid);
  const app: http.RequestListener = (req, res) => {
    res.setHeader('X-Instance', instance);
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
    if (url.pathname === '/echo' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(Buffer.concat(chunks)));
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
