import http from 'node:http';
import https from 'node:https';
import type { ConformanceFactory } from '@lameduck/conformance';
import { closeServer, listen, urlOf } from '@lameduck/testkit';
import express5 from 'express';
import express4 from 'express4';
import { type GracefulOptions, graceful } from '../src/index.js';

type Express = typeof express5;

function expressFactory(express: Express, name: string, exportName: string): ConformanceFactory {
  return {
    name,
    module: { url: import.meta.url, exportName },
    async start({ mode, options, health, handlers, tls }) {
      const lifecycle = graceful({
        ...options,
        ...(health ?? { readinessPath: '/readyz', livenessPath: '/livez' }),
      });
      const { lameduck } = lifecycle;
      const app = express();
      app.use(lifecycle);
      app.get('/fast', (_req, res) => {
        res.send(handlers.fast());
      });
      app.get('/slow', async (req, res, next) => {
        try {
          res.send(await handlers.slow(lameduck.signalFor(req)));
        } catch (err) {
          next(err);
        }
      });
      app.get('/stream', (_req, res) => {
        res.type('text/plain');
        handlers.stream().pipe(res);
      });
      let server: http.Server;
      if (mode === 'process') {
        // Exactly what a user writes: lameduck finds the server app.listen() creates.
        server = app.listen(0, '127.0.0.1');
      } else {
        server = tls ? https.createServer(tls, app) : http.createServer(app);
        lameduck.attach(server);
        await listen(server);
      }
      return {
        url: await urlOf(server, tls !== undefined),
        lameduck,
        async close() {
          await closeServer(server);
          lameduck.dispose();
        },
      };
    },
    async buildAdapter(options) {
      return graceful(options as GracefulOptions).lameduck;
    },
  };
}

export const express5Factory = expressFactory(express5, 'express 5', 'express5Factory');
export const express4Factory = expressFactory(express4, 'express 4', 'express4Factory');
