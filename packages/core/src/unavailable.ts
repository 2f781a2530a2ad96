import type { IncomingMessage, ServerResponse } from 'node:http';

const body = JSON.stringify({
  error: 'Service Unavailable',
  message: 'The server is shutting down; retry the request.',
});

/**
 * The one 503 lameduck sends: to a request that arrived after the listeners closed, whose handler the
 * caller has stopped. `Connection: close` ends the socket after it (RFC 9112 §9.6), `Retry-After`
 * (RFC 9110 §10.2.3) tells the client when to try again, and a 503 tells it the request was not
 * processed, so even a POST is safe to retry elsewhere.
 *
 * The request body is read first: closing a socket with unread request bytes makes the kernel send a
 * reset, which can reach the client before the 503 does (the "lingering close" of RFC 9112 §9.6).
 */
export function answerUnavailable(
  req: IncomingMessage,
  res: ServerResponse,
  retryAfter: number | false,
): void {
  const send = () => {
    if (res.headersSent || res.writableEnded) return;
    res.statusCode = 503;
    res.setHeader('Connection', 'close');
    if (retryAfter !== false) res.setHeader('Retry-After', String(retryAfter));
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };
  if (req.complete) {
    send();
  } else {
    req.resume();
    req.once('end', send);
  }
}
