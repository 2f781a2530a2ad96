import { adapterOptions, type ConformanceFactory, serveListener } from '@lameduck/conformance';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { type GracefulOptions, graceful } from '../src/index.js';

function koaFactory(Koa: typeof Koa3, name: string, exportName: string): ConformanceFactory {
  return {
    name,
    module: { url: import.meta.url, exportName },
    async start(start) {
      const { handlers } = start;
      const lifecycle = graceful(adapterOptions(start));
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
      // In a child process: exactly what a user writes, and lameduck finds the server app.listen() creates.
      return serveListener(start, lameduck, app.callback(), () => app.listen(0, '127.0.0.1'));
    },
    async buildAdapter(options) {
      return graceful(options as GracefulOptions).lameduck;
    },
  };
}

export const koa3Factory = koaFactory(Koa3, 'koa 3', 'koa3Factory');
export const koa2Factory = koaFactory(Koa2, 'koa 2', 'koa2Factory');
