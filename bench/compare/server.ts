// One server per way of shutting down: `server.ts <contender>`. Each is set up the way its README shows,
// with its defaults, and shuts down on SIGTERM. Routes: `GET /` answers `ok` at once; `GET /slow?ms=N`
// prints `{"event":"request"}` when it arrives and answers after N ms. Prints `{"event":"listening"}`,
// and `{"event":"resolved"}` when the package's own shutdown call resolved (a callback, a promise, a
// hook that runs after the drain): the drain is over in the package's own view. How the process then
// exits is the package's business; the parent sees that on its side.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClockChecks, emit } from '../emit.js';
import { type Contender, contenders } from './contenders.js';

const contender = process.argv[2] as Contender;
const slow = (url: string | undefined) => Number(/^\/slow\?ms=(\d+)/.exec(url ?? '')?.[1] ?? Number.NaN);

const app: http.RequestListener = (req, res) => {
  const ms = slow(req.url);
  if (Number.isNaN(ms)) res.end('ok');
  else {
    emit('request');
    setTimeout(() => res.end('slept'), ms);
  }
};

async function fastifyServer(withLameduck: boolean) {
  const { default: Fastify } = await import('fastify');
  const fastify = Fastify();
  if (withLameduck) {
    const { gracefulPlugin } = await import('@lameduck/fastify');
    await fastify.register(gracefulPlugin, { logger: false });
    fastify.lameduck.on('report', () => emit('resolved'));
  }
  fastify.get('/', async () => 'ok');
  fastify.get<{ Querystring: { ms: string } }>('/slow', async (req) => {
    emit('request');
    await new Promise((resolve) => setTimeout(resolve, Number(req.query.ms)));
    return 'slept';
  });
  return fastify;
}

async function start(): Promise<http.Server> {
  const server = http.createServer(app);
  const exitWhenDone = () => {
    emit('resolved');
    process.exit(0);
  };
  switch (contender) {
    case 'lameduck': {
      const { createLameduck } = await import('@lameduck/core');
      const lameduck = createLameduck({ logger: false });
      lameduck.on('report', () => emit('resolved'));
      const ld = http.createServer(lameduck.handle(app));
      lameduck.attach(ld);
      return ld;
    }
    case 'close':
      process.on('SIGTERM', () => server.close(exitWhenDone));
      return server;
    case 'http-terminator': {
      const { createHttpTerminator } = await import('http-terminator');
      const terminator = createHttpTerminator({ server });
      process.on('SIGTERM', () => void terminator.terminate().then(exitWhenDone));
      return server;
    }
    case 'stoppable': {
      const { default: stoppable } = await import('stoppable');
      const stoppableServer = stoppable(server);
      process.on('SIGTERM', () => stoppableServer.stop(exitWhenDone));
      return server;
    }
    case 'terminus': {
      const { createTerminus } = await import('@godaddy/terminus');
      // terminus re-sends the signal to the process once onShutdown resolved.
      createTerminus(server, { signals: ['SIGTERM'], onShutdown: async () => emit('resolved') });
      return server;
    }
    case 'http-graceful-shutdown': {
      const { default: gracefulShutdown } = await import('http-graceful-shutdown');
      gracefulShutdown(server, { finally: () => emit('resolved') });
      return server;
    }
    case 'lameduck-fastify': {
      const fastify = await fastifyServer(true);
      await fastify.ready();
      return fastify.server;
    }
    case 'close-with-grace': {
      const { default: closeWithGrace } = await import('close-with-grace');
      const fastify = await fastifyServer(false);
      closeWithGrace(async () => {
        await fastify.close();
        emit('resolved');
      });
      await fastify.ready();
      return fastify.server;
    }
    case 'fastify-close': {
      const fastify = await fastifyServer(false);
      process.on('SIGTERM', () => void fastify.close().then(exitWhenDone));
      await fastify.ready();
      return fastify.server;
    }
    default:
      throw new Error(`unknown contender ${contender}; use one of ${contenders.join(', ')}`);
  }
}

const server = await start();
answerClockChecks();
// The moment node begins to exit (not seen when a signal kills the process, as terminus does on purpose).
process.on('exit', () => emit('exiting'));
server.listen(0, '127.0.0.1', () => emit('listening', { port: (server.address() as AddressInfo).port }));
