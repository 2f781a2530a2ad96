import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Lameduck, RequestListener } from '@lameduck/core';

/** What `http2.createSecureServer()` calls for each request, HTTP/2 streams and HTTP/1.1 alike. */
export type SecureListener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

export interface App {
  listener: SecureListener;
  /** Answers every slow request that is waiting, now. */
  finishSlowRequests(): void;
}

/**
 * The request listener of the HTTPS + HTTP/2 server (server.ts creates the server and listens). With
 * `allowHTTP1`, one port serves HTTP/2 to clients that negotiate `h2` over ALPN and HTTP/1.1 to the
 * rest, and lameduck drains both kinds of connection: GOAWAY for HTTP/2 sessions, `Connection: close`
 * for HTTP/1.1. Routes: `/` says which protocol it was reached over, `/slow` answers after `slowMs`,
 * `/readyz` is the readiness probe.
 */
export function buildApp(lameduck: Lameduck, slowMs: number): App {
  const waiting = new Set<() => void>();
  const app: RequestListener = (req, res) => {
    res.setHeader('content-type', 'text/plain');
    if (req.url !== '/slow') {
      res.end(`hello over HTTP/${req.httpVersion}\n`);
      return;
    }
    const answer = (status: number, text: string) => {
      if (!waiting.delete(finish)) return;
      clearTimeout(timer);
      res.statusCode = status;
      res.end(text);
    };
    const finish = () => answer(200, 'hello\n');
    const timer = setTimeout(finish, slowMs);
    waiting.add(finish);
    // At the drain deadline lameduck aborts this signal: answer now rather than be cut off.
    lameduck.signalFor(req).addEventListener('abort', () => answer(503, 'aborted at the drain deadline\n'));
    process.stdout.write(`slow request started (${slowMs} ms, HTTP/${req.httpVersion})\n`);
  };
  return {
    // handle() is typed with node:http's request and response; the HTTP/2 compatibility objects have
    // every member the gate, the probe and this app use (url, headers, statusCode, setHeader, end).
    listener: lameduck.handle(app, { readinessPath: '/readyz' }) as unknown as SecureListener,
    finishSlowRequests: () => {
      for (const finish of [...waiting]) finish();
    },
  };
}
