// HTTP clients of the benchmarks: one GET that never rejects, what its result means, and a steady paced
// keep-alive load that records every request (for latency percentiles and a timeline).
import http from 'node:http';
import { wallNow } from './clock.js';

/** What one request got. `rejected` is a clean "not here" (503 or a refused connection): safe to retry. */
export type Outcome = 'ok' | 'rejected' | 'reset' | 'other';

export function classify(status: number | undefined, error: string | undefined): Outcome {
  if (error === undefined) return status === 200 ? 'ok' : status === 503 ? 'rejected' : 'other';
  if (error === 'ECONNREFUSED') return 'rejected';
  if (error === 'ECONNRESET' || error === 'EPIPE' || error === 'socket hang up') return 'reset';
  return 'other';
}

/** One GET /; never rejects. `error` is the error code of a failed request. */
export function get(
  agent: http.Agent,
  port: number,
  timeoutMs = 5_000,
): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const fail = (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.complete ? { status: res.statusCode } : { error: 'truncated' }));
      res.on('error', fail);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', fail);
  });
}

export interface Sample {
  /** Wall-clock times (clock.ts) the request was sent and its outcome known. */
  sentAt: number;
  doneAt: number;
  outcome: Outcome;
  /** The error code or the status, for failures. */
  detail?: string;
}

export interface PacedLoadOptions {
  port: number;
  /** Keep-alive clients, each with its own connection. */
  clients: number;
  /** Requests per second over all clients (each client sends one every clients/rate seconds). */
  rate: number;
  /** Bound on the duration, whatever happens. */
  maxMs: number;
}

/**
 * A steady load: each client sends its next request at its next slot, or at once when the last answer
 * came after that slot (no request is ever sent before the previous one of the same client is done,
 * so a server that stalls sees fewer requests, and latency is measured from the actual send).
 */
export class PacedLoad {
  readonly samples: Sample[] = [];
  readonly startedAt = wallNow();
  #stopped = false;
  #stopOnRefused = false;
  readonly #agent: http.Agent;
  readonly #done: Promise<void>;

  constructor(readonly options: PacedLoadOptions) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
    const interval = (1_000 * options.clients) / options.rate;
    this.#done = Promise.all(
      Array.from({ length: options.clients }, (_, i) =>
        this.#client((i * interval) / options.clients, interval),
      ),
    ).then(() => undefined);
  }

  /** From now on a client stops at its first refused connection (the server is going away for good). */
  stopOnRefused(): void {
    this.#stopOnRefused = true;
  }

  /** Resolves once every client stopped (refused, or the bound passed). */
  get done(): Promise<void> {
    return this.#done;
  }

  async stop(): Promise<Sample[]> {
    this.#stopped = true;
    await this.#done;
    this.#agent.destroy();
    return this.samples;
  }

  async #client(offset: number, interval: number): Promise<void> {
    let next = this.startedAt + offset;
    while (!this.#stopped && wallNow() - this.startedAt < this.options.maxMs) {
      const wait = next - wallNow();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.#stopped) return;
      const sentAt = wallNow();
      const { status, error } = await get(this.#agent, this.options.port);
      const outcome = classify(status, error);
      this.samples.push({
        sentAt,
        doneAt: wallNow(),
        outcome,
        detail: outcome === 'ok' ? undefined : (error ?? String(status)),
      });
      if (error === 'ECONNREFUSED' && this.#stopOnRefused) return;
      next = Math.max(next + interval, wallNow() - interval / 2);
    }
  }
}
