import { adapterOptions, type ConformanceFactory, serveListener } from '@lameduck/conformance';
import express5 from 'express';
import express4 from 'express4';
import { type GracefulOptions, graceful } from '../src/index.js';

type Express = typeof express5;

function expressFactory(express: Express, name: string, exportName: string): ConformanceFactory {
  return {
    name,
    module: { url: import.meta.url, exportName },
    async start(start) {
      const { handlers } = start;
      const lifecycle = graceful(adapterOptions(start));
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
      // In a child process: exactly what a user writes, and lameduck finds the server app.listen() creates.
      return serveListener(start, lameduck, app, () => app.listen(0, '127.0.0.1'));
    },
    async buildAdapter(options) {
      return graceful(options as GracefulOptions).lameduck;
    },
  };
}

export const express5Factory = expressFactory(express5, 'express 5', 'express5Factory');
export const express4Factory = expressFactory(express4, 'express 4', 'express4Factory');
