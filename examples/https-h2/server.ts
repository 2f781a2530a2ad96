// HTTPS and HTTP/2 on one port (ALPN picks the protocol), drained by lameduck. Make a certificate, run
// the server, then `curl -k --http2 https://127.0.0.1:8443/slow` and `kill -TERM <pid>` meanwhile:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
//     -subj /CN=localhost -keyout key.pem -out cert.pem
//   TLS_KEY=key.pem TLS_CERT=cert.pem node --conditions=@lameduck/source --import tsx examples/https-h2/server.ts
// Environment: TLS_KEY, TLS_CERT (PEM files, required), PORT (8443), HOST (127.0.0.1), SLOW_MS (10000),
// DRAIN_DELAY (5000), SHUTDOWN_TIMEOUT (20000). SIGUSR2 answers the slow requests that are waiting.
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLameduck } from '@lameduck/core';
import { buildApp } from './app.js';

const { TLS_KEY, TLS_CERT } = process.env;
if (TLS_KEY === undefined || TLS_CERT === undefined) {
  process.stderr.write('set TLS_KEY and TLS_CERT to PEM files (see the openssl line in server.ts)\n');
  process.exit(2);
}

const lameduck = createLameduck({
  drainDelay: Number(process.env.DRAIN_DELAY ?? 5_000),
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
});
const { listener, finishSlowRequests } = buildApp(lameduck, Number(process.env.SLOW_MS ?? 10_000));
process.on('SIGUSR2', finishSlowRequests);

// allowHTTP1: clients without HTTP/2 (or that do not offer `h2` over ALPN) get HTTP/1.1 on the same port.
const server = http2.createSecureServer(
  { key: readFileSync(TLS_KEY), cert: readFileSync(TLS_CERT), allowHTTP1: true },
  listener,
);
// Attached before listen(), so that every session and TLS handshake is seen.
lameduck.attach(server);
server.listen(Number(process.env.PORT ?? 8443), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  process.stdout.write(`listening on https://${address}:${port} (pid ${process.pid})\n`);
});
