import http, { type RequestListener } from 'node:http';
import https from 'node:https';
import { createLameduck } from '@lameduck/core';
import { closeServer, listen, urlOf } from '@lameduck/testkit';
import type { ConformanceFactory } from '../src/index.js';

/** A plain node server using the core alone: `lameduck.handle()` wraps the listener. */
export const nodeFactory: ConformanceFactory = {
  name: 'node:http with @lameduck/core',
  module: { url: import.meta.url, exportName: 'nodeFactory' },
  async start({ mode, options, health, handlers, tls }) {
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
    const listener = lameduck.handle(app, health ?? { readinessPath: '/readyz', livenessPath: '/livez' });
    const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
    // In a child process the server is found by discovery, as a zero-config user would rely on.
    if (mode === 'embedded') lameduck.attach(server);
    await listen(server);
    return {
      url: await urlOf(server, tls !== undefined),
      lameduck,
      async close() {
        await closeServer(server);
        lameduck.dispose();
      },
    };
  },
};
