import http from 'node:http';
import https from 'node:https';
import type { ConformanceFactory } from '@lameduck/conformance';
import { closeServer, listen, urlOf } from '@lameduck/testkit';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { type GracefulOptions, graceful } from '../src/index.js';

function koaFactory(Koa: typeof Koa3, name: string, exportName: string): ConformanceFactory {
  return {
    name,
    module: { url: import.meta.url, exportName },
    async start({ mode, options, health, handlers, tls }) {
      const lifecycle = graceful({
        ...options,
        ...(health ?? { readinessPath: '/readyz', livenessPath: '/livez' }),
      });
      const { lameduck } = lifecycle;
      const app = new Koa();
      app.silent = true;
      app.use(lifecycle);
      app.use(async (ctx, next) => {
        if (ctx.path === '/fast') ctx.body = handlers.fast();
        else if (ctx.path === '/slow') ctx.body = await handlers.slow(lameduck.signalFor(ctx.req));
        else if (ctx.path === '/stream') {
          ctx.type = 'text/plain';
          ctx.body = handlers.stream();
        } else await next();
      });
      let server: http.Server;
      if (mode === 'process') {
        // Exactly what a user writes: lameduck finds the server app.listen() creates.
        server = app.listen(0, '127.0.0.1');
      } else {
        server = tls ? https.createServer(tls, app.callback()) : http.createServer(app.callback());
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

export const koa3Factory = koaFactory(Koa3, 'koa 3', 'koa3Factory');
export const koa2Factory = koaFactory(Koa2, 'koa 2', 'koa2Factory');
