// The app the units run, as deployed: plain JavaScript in /srv/myapp, with @lameduck/core installed.
// Under the keeper (lameduck.service) it takes the socket named "http" that systemd passed the keeper;
// run by lameduck-plain.service, with nothing handed over, it binds PORT itself.
import http from 'node:http';
import { createLameduck } from '@lameduck/core';

// The numbers TimeoutStopSec is computed from (README.md): they come from the unit's Environment= line.
const lameduck = createLameduck({
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
  hookTimeout: Number(process.env.HOOK_TIMEOUT ?? 5_000),
});
// The one after-drain hook, bounded by HOOK_TIMEOUT: the whole hook budget of this app.
lameduck.onShutdown('flush', async () => {
  // Stand-in for real cleanup: flush a cache, close a database pool.
});

const server = http.createServer(
  lameduck.handle(
    (_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from ${process.pid}\n`);
    },
    { readinessPath: '/readyz' },
  ),
);
await lameduck.listen(server, { name: 'http', port: Number(process.env.PORT ?? 8080) }, { autoReady: false });
// Type=notify: tells the keeper, or systemd itself when there is no keeper, that start-up is complete.
await lameduck.ready({ systemd: true });
const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
process.stdout.write(`serving on port ${port} (pid ${process.pid})\n`);
