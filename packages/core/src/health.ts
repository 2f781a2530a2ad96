import type { IncomingMessage, ServerResponse } from 'node:http';

/** Writes a small JSON health answer; HEAD gets the headers only. */
export function sendHealth(req: IncomingMessage, res: ServerResponse, ok: boolean, status: string): void {
  const body = JSON.stringify({ status });
  res.statusCode = ok ? 200 : 503;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The path of a request URL without its query string. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
