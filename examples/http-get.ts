// One GET as the examples' tests send it: on a new connection, so that each answer says what a new
// client would get at that moment (served, served with `Connection: close`, or refused).
import http from 'node:http';

export interface GetResult {
  status?: number;
  body?: string;
  connection?: string;
  error?: string;
}

/** One GET on a new connection; never rejects (a refused connection is an answer here). */
export function get(url: string): Promise<GetResult> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}
