import {
  type AdapterOptions,
  ErrorCodes,
  gateFromShutdown,
  type Lameduck,
  resolveAdapterOptions,
} from '@lameduck/core';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Options of {@link gracefulPlugin}: the core options, or a lifecycle to share, plus health routes.
 *
 * @example
 * const options: GracefulPluginOptions = { drainDelay: 5000, readinessPath: '/readyz' };
 * await fastify.register(gracefulPlugin, options);
 */
export interface GracefulPluginOptions extends AdapterOptions {}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The lameduck lifecycle of this instance: hooks, `shutdown()`, `signalFor(request.raw)`, events.
     *
     * @example
     * fastify.get('/report', async (request) => buildReport({ signal: fastify.lameduck.signalFor(request.raw) }));
     */
    lameduck: Lameduck;
  }
}

/** avvio's `onClose()`, which Fastify exposes on every instance but leaves out of its types. */
interface AvvioInstance {
  onClose(handler: () => Promise<void>): unknown;
}

/** Options Fastify itself reads from `register()`; they are not lameduck's. */
const registerOptions = new Set(['prefix', 'logLevel', 'logSerializers']);

/** Resolves once the drain is over: every request answered, every connection closed. */
function drainDone(lameduck: Lameduck): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (lameduck.state !== 'closing' && lameduck.state !== 'closed') return;
      lameduck.off('state', check);
      resolve();
    };
    lameduck.on('state', check);
    check();
  });
}

const plugin: FastifyPluginAsync<GracefulPluginOptions> = async (fastify, options) => {
  const { lameduck, readinessPath, livenessPath } = resolveAdapterOptions(
    options,
    { logger: fastify.log },
    registerOptions,
  );
  lameduck.attach(fastify.server);
  fastify.decorate('lameduck', lameduck);

  // The gate goes in front of Fastify's router when the shutdown begins, not as an onRequest hook:
  // a hook would run on every request of the service's life, and the gate answers nothing before.
  gateFromShutdown(lameduck, fastify.server);
  for (const [path, handler] of [
    [readinessPath, lameduck.readiness],
    [livenessPath, lameduck.liveness],
  ] as const) {
    if (path === undefined) continue;
    fastify.get(path, (request, reply) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    });
  }

  // fastify.close() drains, and Fastify goes on (its own close step, preClose hooks, server.close(),
  // onClose hooks) only once the drain is over. Waiting for the `closing` state rather than the whole
  // shutdown() matters: the after-drain hook below awaits fastify.close() itself.
  const drain = async () => {
    try {
      void lameduck.shutdown('fastify.close');
    } catch (err) {
      // A lifecycle disposed before fastify.close() (a test's cleanup) has nothing left to drain.
      if ((err as { code?: unknown }).code === ErrorCodes.DISPOSED) return;
      throw err;
    }
    await drainDone(lameduck);
  };
  // Fastify's own close step first marks its router closing, and with `return503OnClosing` (its
  // default) the router then answers every request itself, before any hook: 503 without Retry-After,
  // counted as completed, during the drain delay and for health probes too. So the drain must be over
  // before that step. Fastify queues the step as an avvio onClose handler when loading ends (fastify.js,
  // `avvio.once('preReady', …)`), and avvio runs onClose handlers last-registered-first: one queued from
  // an onReady hook, through avvio's `onClose` on the instance (Fastify's docs rule out addHook there),
  // runs first. Checked on Fastify 5.0.0 (avvio 9.0.0) and 5.12.8 (avvio 9.3.1); pinned by
  // fastify.test.ts ("drains before Fastify's own close step"). avvio also puts no timeout on onClose
  // handlers, whereas `pluginTimeout` bounds each preClose hook.
  fastify.addHook('onReady', async () => {
    (fastify as unknown as AvvioInstance).onClose(drain);
  });
  // An instance closed without ever being ready (so nothing listens and Fastify's 503 reaches no one)
  // drains here; otherwise the drain is already over by now.
  fastify.addHook('preClose', drain);
  // A drain started elsewhere (a signal, shutdown()) ends in fastify.close(), so the app's own close
  // hooks run once, after in-flight requests, and before the process exits.
  for (let i = 1; ; i++) {
    try {
      lameduck.onShutdown(i === 1 ? 'fastify.close' : `fastify.close#${i}`, () => fastify.close());
      break;
    } catch (err) {
      if ((err as { code?: unknown }).code !== ErrorCodes.HOOK_DUPLICATE) throw err;
    }
  }
};

/**
 * Graceful shutdown for Fastify 5, made with `fastify-plugin` so it covers the whole instance. Register
 * it first. It decorates `fastify.lameduck`, drains `fastify.server` on SIGTERM/SIGINT (then runs
 * `fastify.close()`, so `preClose`/`onClose` hooks run after in-flight requests finished), and makes
 * `fastify.close()` run the same drain before Fastify closes, with Fastify's default options. Logs
 * through the Fastify logger unless `logger` is given.
 *
 * @example
 * import Fastify from 'fastify';
 * import { gracefulPlugin } from '@lameduck/fastify';
 *
 * const fastify = Fastify({ logger: true });
 * await fastify.register(gracefulPlugin, { drainDelay: 5000, readinessPath: '/readyz' });
 * fastify.get('/', async () => 'hello');
 * fastify.addHook('onClose', () => pool.end());
 * await fastify.listen({ port: 8080, host: '0.0.0.0' });
 */
export const gracefulPlugin = fp(plugin, { name: '@lameduck/fastify', fastify: '5.x' });
