import type { Server } from 'node:http';
import { adapterOptions, type ConformanceFactory } from '@lameduck/conformance';
import { closeServer, urlOf } from '@lameduck/testkit';
import Fastify, { type FastifyHttpOptions } from 'fastify';
import { type GracefulPluginOptions, gracefulPlugin } from '../src/index.js';

/**
 * Fastify with its defaults (`return503OnClosing` and `forceCloseConnections` left alone), as the
 * conformance suite asks: its native-close scenarios check `fastify.close()` the way users meet it.
 */
export const fastifyFactory: ConformanceFactory = {
  name: 'fastify 5',
  module: { url: import.meta.url, exportName: 'fastifyFactory' },
  async start(start) {
    const { mode, handlers, tls } = start;
    // Typed as the plain http flavour: the https one differs only in its server type.
    const fastify = Fastify((tls ? { https: tls } : {}) as FastifyHttpOptions<Server>);
    await fastify.register(gracefulPlugin, adapterOptions(start));
    fastify.get('/fast', async () => handlers.fast());
    fastify.get('/slow', async (request) => handlers.slow(fastify.lameduck.signalFor(request.raw)));
    fastify.get('/stream', async (_request, reply) => reply.type('text/plain').send(handlers.stream()));
    // Lets the child-process tests see the app's own close hook run before the exit.
    if (mode === 'process') fastify.addHook('onClose', async () => void process.stdout.write('onClose\n'));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: await urlOf(fastify.server, tls !== undefined),
      lameduck: fastify.lameduck,
      nativeClose: () => fastify.close(),
      async close() {
        await closeServer(fastify.server);
        await fastify.close();
        fastify.lameduck.dispose();
      },
    };
  },
  async buildAdapter(options) {
    const fastify = Fastify();
    await fastify.register(gracefulPlugin, options as GracefulPluginOptions);
    return fastify.lameduck;
  },
};
