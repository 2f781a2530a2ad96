import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, cleanupAfterEach, requireSelfSignedCert, spawnSource } from '@lameduck/testkit';
import { expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

/** One HTTP/2 request on `session`; resolves the status and body, or the error that ended the stream. */
function h2get(
  session: http2.ClientHttp2Session,
  urlPath: string,
): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':path': urlPath });
    } catch (err) {
      resolve({ error: (err as NodeJS.ErrnoException).code });
      return;
    }
    let status: number | undefined;
    let body = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

function httpsGet(url: string, ca: string): Promise<{ status?: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
      })
      .on('error', reject);
  });
}

it('finishes an in-flight HTTP/2 stream during the drain, sends GOAWAY and exits 0', async () => {
  // A throwaway certificate for 127.0.0.1, made now: no key is committed.
  const tls = requireSelfSignedCert();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lameduck-h2-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'key.pem'), tls.key);
  writeFileSync(path.join(dir, 'cert.pem'), tls.cert);
  const child: Child = spawnSource(fileURLToPath(new URL('./server.ts', import.meta.url)), {
    env: {
      TLS_KEY: path.join(dir, 'key.pem'),
      TLS_CERT: path.join(dir, 'cert.pem'),
      PORT: '0',
      DRAIN_DELAY: '0',
      // Held until the test sends SIGUSR2: the stream stays in flight for exactly as long as needed.
      SLOW_MS: '120000',
    },
  });
  cleanup(() => child.kill());
  const origin = (await child.line('listening on ')).split(' ')[0] ?? '';

  // One port, two protocols: HTTP/1.1 for a client that does not offer h2, HTTP/2 for one that does.
  expect(await httpsGet(`${origin}/`, tls.cert)).toMatchObject({
    status: 200,
    body: 'hello over HTTP/1.1\n',
  });
  const session = http2.connect(origin, { ca: tls.cert });
  cleanup(() => session.destroy());
  session.on('error', () => {});
  expect(await h2get(session, '/readyz')).toEqual({ status: 200, body: '{"status":"ready"}' });
  expect(await h2get(session, '/')).toEqual({ status: 200, body: 'hello over HTTP/2.0\n' });

  const slow = h2get(session, '/slow');
  await child.line('slow request started');
  const goaway = once(session, 'goaway');
  child.signal('SIGTERM');
  await child.match(/shutdown started/);
  // GOAWAY (RFC 9113 §6.8): the server processes no new stream on this connection; the open one goes on.
  const [errorCode] = (await goaway) as [number];
  expect(errorCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  expect(await h2get(session, '/')).toEqual({ error: 'ERR_HTTP2_GOAWAY_SESSION' });

  child.signal('SIGUSR2');
  expect(await slow).toEqual({ status: 200, body: 'hello\n' });
  expect(await child.exited).toEqual({ code: 0, signal: null });
  expect(child.stderr()).toMatch(/shutdown complete.*completed=1 .*exitCode=0/);
});
