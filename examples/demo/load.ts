// The clients of the demo: what a deploy meets in production. Busy keep-alive clients send a steady
// stream of GET /, slow requests are in flight, and idle keep-alive sockets sit in a pool. Every answer
// is sorted into one of five outcomes and time-stamped for the timeline.
import http from 'node:http';

/**
 * What one request got. A `503` with `Retry-After` is the clean "not here, try again" of a server that
 * is going away: the client retries it. A refused connection is clean too when the server has stopped
 * for good (nothing was accepted); during a restart it is an outage. Resets and anything else are lost
 * requests.
 */
export type Outcome = 'ok' | 'retryAfter' | 'refused' | 'reset' | 'other';

export type Tally = Record<Outcome, number>;

export const blank = (): Tally => ({ ok: 0, retryAfter: 0, refused: 0, reset: 0, other: 0 });

export interface Sample {
  /** When the outcome was known, in ms since the load started. */
  at: number;
  outcome: Outcome;
}

/** One GET; never rejects. Bounded, so that a request nobody answers shows up as `other`. */
export function get(agent: http.Agent, port: number, path: string, timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const fail = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      // Node names a connection closed before any answer "socket hang up" with the code ECONNRESET.
      if (code === 'ECONNREFUSED') resolve('refused');
      else if (code === 'ECONNRESET' || code === 'EPIPE') resolve('reset');
      else resolve('other');
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('error', fail);
      res.on('end', () => {
        if (!res.complete) resolve('reset');
        else if (res.statusCode === 200) resolve('ok');
        else if (res.statusCode === 503 && res.headers['retry-after'] !== undefined) resolve('retryAfter');
        else resolve('other');
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', fail);
  });
}

export interface LoadOptions {
  port: number;
  /** Busy keep-alive clients, one connection each. */
  clients: number;
  /** Each busy client sends at most one request per `paceMs` (the next at once when it is late). */
  paceMs: number;
  /** Slow requests (`/slow?ms=1000`) started by `slow()`. */
  slowRequests: number;
  /** Keep-alive sockets opened at the start and left idle. */
  idleSockets: number;
  /**
   * What a busy client does when its connection is refused: `stop` (the server is gone for good, as
   * after a shutdown) or `retry` (a restart: the client goes on sending at its pace).
   */
  onRefused: 'stop' | 'retry';
}

export class Load {
  readonly startedAt = performance.now();
  readonly samples: Sample[] = [];
  readonly busy = blank();
  readonly slow = blank();
  /** Tallies start at `count()`: before it, the requests are the warm-up (the timeline has them all). */
  #counting = false;
  #stopping = false;
  #inFlight = 0;
  #served = 0;
  /**
   * One agent (one keep-alive socket) per busy client, as separate clients have. A pool shared by all of
   * them would keep some sockets idle for long stretches and hand one out at any moment: when a server
   * closes such a socket, a request written on it at that instant is reset, whoever the server is
   * (HTTP/1.1 has no way to announce the close; RFC 9112 §9.3.1 has clients retry). That race is not
   * what the demo compares.
   */
  readonly #busyAgents: http.Agent[];
  readonly #slowAgent = new http.Agent({ keepAlive: true });
  readonly #idleAgent = new http.Agent({ keepAlive: true });
  readonly #loops: Promise<void>;
  #slow: Promise<void> = Promise.resolve();

  /** Opens the idle sockets, then starts the busy clients. */
  constructor(readonly options: LoadOptions) {
    this.#busyAgents = Array.from(
      { length: options.clients },
      () => new http.Agent({ keepAlive: true, maxSockets: 1 }),
    );
    this.#loops = this.#run();
  }

  async #run(): Promise<void> {
    const { idleSockets, clients } = this.options;
    await Promise.all(
      Array.from({ length: idleSockets }, () => this.#request(this.#idleAgent, '/', undefined)),
    );
    await Promise.all(
      Array.from({ length: clients }, (_, i) => this.#loop(this.#busyAgents[i] as http.Agent)),
    );
  }

  /** Requests served so far (answered 200), requests waiting for an answer, sockets open. */
  get served(): number {
    return this.#served;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  get socketsOpen(): number {
    let n = 0;
    for (const agent of [...this.#busyAgents, this.#slowAgent, this.#idleAgent]) {
      for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
        n += list?.length ?? 0;
      }
    }
    return n;
  }

  /** From now on, outcomes are tallied. */
  count(): void {
    this.#counting = true;
  }

  /** Starts the slow requests; they are tallied on their own. */
  startSlow(): void {
    this.#slow = Promise.all(
      Array.from({ length: this.options.slowRequests }, () =>
        this.#request(this.#slowAgent, '/slow?ms=1000', this.slow),
      ),
    ).then(() => {});
  }

  /** Resolves once every slow request has its answer. */
  slowDone(): Promise<void> {
    return this.#slow;
  }

  /** Resolves once every busy client has stopped on its own (after a shutdown, at its first refusal). */
  busyDone(): Promise<void> {
    return this.#loops;
  }

  /** Stops the busy clients, waits for their last answers and closes every socket. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([this.#loops, this.#slow]);
    for (const agent of [...this.#busyAgents, this.#slowAgent, this.#idleAgent]) agent.destroy();
  }

  async #request(agent: http.Agent, path: string, tally: Tally | undefined): Promise<Outcome> {
    this.#inFlight++;
    const outcome = await get(agent, this.options.port, path);
    this.#inFlight--;
    if (outcome === 'ok') this.#served++;
    this.samples.push({ at: performance.now() - this.startedAt, outcome });
    if (this.#counting && tally !== undefined) tally[outcome]++;
    return outcome;
  }

  async #loop(agent: http.Agent): Promise<void> {
    const { paceMs, onRefused } = this.options;
    let next = performance.now();
    while (!this.#stopping) {
      // A 503 with Retry-After closed its connection; the next turn of the loop is the retry.
      const outcome = await this.#request(agent, '/', this.busy);
      if (outcome === 'refused' && onRefused === 'stop') return;
      next = Math.max(next + paceMs, performance.now());
      await sleepMs(next - performance.now());
    }
  }
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
