import http from 'node:http';
import https from 'node:https';

export interface AgentResult {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  /** Error code when the request failed (ECONNREFUSED, ECONNRESET, TIMEOUT, …). */
  error?: string;
  /** The response ended before its end: not complete, or shorter than its declared length. */
  truncated?: boolean;
}

export interface RequestInit {
  method?: string;
  /** Sent as `text/plain` with its Content-Length. */
  body?: string;
  /** A request not answered within this long fails with `TIMEOUT`. Default: no bound. */
  timeoutMs?: number;
  /** The TLS server name to verify (with an `https.Agent`), e.g. `localhost` for a self-signed certificate. */
  servername?: string;
}

/**
 * One request to 127.0.0.1:`port` through `agent` (HTTPS with an `https.Agent`), as an ordinary client
 * sends it; never rejects: a failure is the result's `error`.
 */
export function request(
  agent: http.Agent,
  port: number,
  path: string,
  init: RequestInit = {},
): Promise<AgentResult> {
  const headers: http.OutgoingHttpHeaders = {};
  if (init.body !== undefined) {
    headers['content-type'] = 'text/plain';
    headers['content-length'] = Buffer.byteLength(init.body);
  }
  return new Promise((resolve) => {
    const send = agent instanceof https.Agent ? https.request : http.request;
    const req = send(
      {
        host: '127.0.0.1',
        port,
        path,
        agent,
        method: init.method ?? 'GET',
        headers,
        servername: init.servername,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          const declared = res.headers['content-length'];
          const truncated =
            !res.complete || (declared !== undefined && Buffer.byteLength(body) !== Number(declared));
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, truncated });
        });
        res.on('error', (err: NodeJS.ErrnoException) =>
          resolve({ error: err.code ?? err.message, truncated: true }),
        );
      },
    );
    if (init.timeoutMs !== undefined) {
      req.setTimeout(init.timeoutMs, () =>
        req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      );
    }
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(init.body);
  });
}
