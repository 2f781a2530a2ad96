// The lameduck side of the demo: the example app (../node-http/app.ts) with the example's lifecycle
// (../node-http/server.ts), listening through `lameduck.listen()`. On its own it binds PORT (0: any
// free port); as a worker of the keeper (`lameduck run`) the same line takes the keeper's socket.
import { createLameduck } from '@lameduck/core';
import { buildServer } from '../node-http/app.js';

const lameduck = createLameduck();
lameduck.onShutdown('flush-metrics', async () => {
  // Stand-in for real cleanup, as in the example: flush a cache, close a database pool.
  await new Promise((resolve) => setTimeout(resolve, 20));
});
const server = buildServer(lameduck);
server.on('request', (req) => {
  // Tells the demo the request arrived, so that it signals only once every slow request is in flight.
  if (req.url?.startsWith('/slow')) process.stdout.write('slow request started\n');
});
const address = await lameduck.listen(server, { port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
if (address !== null && typeof address === 'object') {
  const generation = process.env.LAMEDUCK_GENERATION;
  process.stdout.write(
    `listening on http://${address.address}:${address.port} (pid ${process.pid}${generation ? `, generation ${generation}` : ''})\n`,
  );
}
