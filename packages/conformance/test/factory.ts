import http, { type RequestListener } from 'node:http';
import { createLameduck } from '@lameduck/core';
import { type ConformanceFactory, healthRoutes, serveListener } from '../src/index.js';

/** A plain node server using the core alone: `lameduck.handle()` wraps the listener. */
export const nodeFactory: ConformanceFactory = {
  name: 'node:http with @lameduck/core',
  module: { url: import.meta.url, exportName: 'nodeFactory' },
  async start(start) {
    const { options, handlers } = start;
    const lameduck = createLameduck(options);
    const app: RequestListener = (req, res) => {
      if (req.url === '/fast') {
        res.end(handlers.fast());
      } else if (req.url === '/slow') {
        handlers.slow(lameduck.signalFor(req)).then(
          (body) => res.end(body),
          () => res.writeHead(500).end(),
        );
      } else if (req.url === '/stream') {
        res.setHeader('Content-Type', 'text/plain');
        handlers.stream().pipe(res);
      } else {
        res.writeHead(404).end();
      }
    };
    const listener = lameduck.handle(app, healthRoutes(start));
    // In a child process the server is found by discovery, as a zero-config user would rely on.
    return serveListener(start, lameduck, listener, () => http.createServer(listener).listen(0, '127.0.0.1'));
  },
};
