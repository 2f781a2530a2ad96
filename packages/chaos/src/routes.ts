import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { digest, patternBody } from './body.js';

/** What a route answers; each framework sends it its own idiomatic way. */
export interface Answer {
  status: number;
  type: string;
  body: Buffer | Readable;
}

/** Request ids travel in the query string (`?id=`), so that the server's log lines name them. */
export function idOf(url: string | undefined): number {
  const m = /[?&]id=(\d+)/.exec(url ?? '');
  return m === null ? -1 : Number(m[1]);
}

function param(query: URLSearchParams, name: string): number {
  return Number(query.get(name) ?? 0);
}

/** Resolves true when `signal` aborted first, false after `ms`. */
async function waitOrAbort(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return true;
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
    return false;
  } catch {
    return true;
  }
}

/**
 * The chaos app, framework-free: `/work`, `/stream`, `/upload`, `/big`. `signal` is the request's
 * lameduck AbortSignal (it fires at the drain deadline); `onRun` is called once the handler runs.
 */
export async function answer(
  url: string,
  readBody: () => Promise<Buffer>,
  signal: AbortSignal,
  onRun: (id: number) => void,
): Promise<Answer> {
  const { pathname, searchParams: q } = new URL(url, 'http://chaos');
  const id = idOf(url);
  onRun(id);
  switch (pathname) {
    case '/work': {
      const useSignal = q.get('abort') === 'answer' ? signal : undefined;
      if (await waitOrAbort(param(q, 'ms'), useSignal)) {
        return { status: 504, type: 'text/plain', body: Buffer.from('aborted at the deadline') };
      }
      return { status: 200, type: 'application/octet-stream', body: patternBody(id, param(q, 'size')) };
    }
    case '/stream': {
      const chunks = param(q, 'chunks');
      const every = param(q, 'every');
      const whole = patternBody(id, chunks * 1_024);
      // Streams ignore the deadline's signal on purpose: lameduck then destroys them (`aborted`).
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < chunks; i++) {
            if (i > 0) await sleep(every);
            yield whole.subarray(i * 1_024, (i + 1) * 1_024);
          }
        })(),
        { objectMode: false },
      );
      return { status: 200, type: 'application/octet-stream', body };
    }
    case '/upload':
      return { status: 200, type: 'text/plain', body: Buffer.from(digest(await readBody())) };
    case '/big':
      return { status: 200, type: 'application/octet-stream', body: patternBody(id, param(q, 'size')) };
    default:
      return { status: 404, type: 'text/plain', body: Buffer.from('not found') };
  }
}

/** Reads a node request body (IncomingMessage or Http2ServerRequest). */
export async function collect(req: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk);
  return Buffer.concat(parts);
}
