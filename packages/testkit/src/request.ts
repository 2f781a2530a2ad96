import http from 'node:http';

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
}

/**
 * One request to 127.0.0.1:`port` through `agent`, as an ordinary client sends it; never rejects: a
 * failure is the result's `error`.
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
    const req = http.request(
      { host: '127.0.0.1', port, path, agent, method: init.method ?? 'GET', headers },
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
