import http from 'node:http';
import https from 'node:https';
import type { AdapterOptions, HandleOptions, Lameduck } from '@lameduck/core';
import { closeServer, listen, urlOf } from '@lameduck/testkit';
import type { StartedServer, StartOptions } from './types.js';

/** The health routes a factory serves: the ones asked for, or `/readyz` and `/livez`. */
export function healthRoutes({ health }: Pick<StartOptions, 'health'>): HandleOptions {
  return health ?? { readinessPath: '/readyz', livenessPath: '/livez' };
}

/**
 * The options an adapter factory passes to its adapter: the core options, or the lifecycle to share,
 * with the health routes.
 */
export function adapterOptions(start: StartOptions): AdapterOptions {
  const shared = start.lameduck === undefined ? start.options : { lameduck: start.lameduck };
  return { ...shared, ...healthRoutes(start) };
}

/**
 * The server half of a factory whose framework hands over a request listener. In `process` mode it
 * calls `userListen`, exactly what a user writes (`app.listen()`), and lameduck must find the server
 * on its own; in `embedded` mode it serves the listener on an http or https server attached explicitly.
 * Either way on 127.0.0.1, port 0. `close()` closes the server and disposes the lifecycle.
 */
export async function serveListener(
  { mode, tls }: Pick<StartOptions, 'mode' | 'tls'>,
  lameduck: Lameduck,
  listener: http.RequestListener,
  userListen: () => http.Server,
): Promise<StartedServer> {
  let server: http.Server;
  if (mode === 'process') {
    server = userListen();
  } else {
    server = tls ? https.createServer(tls, listener) : http.createServer(listener);
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
}
