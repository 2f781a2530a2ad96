import { Generation } from './generation.js';
import type { KeeperLog } from './log.js';
import { type HeldSocket, releaseSockets } from './sockets.js';
import { type KeeperSnapshot, snapshot } from './status.js';

/**
 * The supervisor of the keeper: a process with a stable PID and no application code. It holds the listening sockets and
 * runs generations of workers on them. A reload starts a new generation, waits for every worker of it
 * to report ready and stay up for `settle`, and only then drains the old one: a new generation that
 * crashes, is not ready in time or exits right after ready is stopped and the old one keeps serving.
 * The sockets are never accepted on here, so nothing is refused while workers change; on stop the
 * keeper closes its copy first, so that once the workers stopped accepting, new connections are
 * refused instead of queueing on a socket nobody will accept from.
 */
export interface KeeperOptions {
  command: readonly string[];
  sockets: readonly HeldSocket[];
  workers: number;
  readyTimeout: number;
  drainTimeout: number;
  settle: number;
  /** Old generations allowed to drain side by side; a reload beyond that waits for the oldest to finish. */
  maxDraining: number;
  env: NodeJS.ProcessEnv;
  log: KeeperLog;
  /** Called once the first generation is serving (systemd readiness). */
  onServing?: () => void;
}

/** Exit codes of `lameduck run`. */
export const KeeperExit = {
  /** Stopped by SIGTERM/SIGINT, every worker drained in time. */
  OK: 0,
  /** Stopped, but a worker had to be killed at the drain timeout or exited with an error. */
  UNCLEAN: 1,
  /** Bad arguments. */
  USAGE: 2,
  /** Sockets could not be bound or inherited, or the control socket is taken. */
  STARTUP: 3,
  /** The first generation never became ready. */
  NEVER_READY: 4,
  /** Every worker crashed and could not be restarted: nothing can serve. */
  NOTHING_SERVES: 5,
} as const;

export interface ReloadResult {
  ok: boolean;
  generation: number;
  reason?: string;
}

const STOPPING = 'the keeper is stopping';

// The keeper's timers stay referenced: while workers are being replaced there may be no child process
// to keep the event loop alive, and the keeper must live until it is told to stop.
export class Keeper {
  readonly #o: KeeperOptions;
  readonly #startedAt = Date.now();
  readonly #generations: Generation[] = [];
  readonly #stopping = new AbortController();
  #nextId = 1;
  #current: Generation | undefined;
  /** The first generation gave up: nothing will ever serve. */
  #neverServed: string | undefined;
  #reloading = false;
  #queued: ((result: ReloadResult) => void)[] = [];
  #reloads = { done: 0, rolledBack: 0 };
  #finish: ((code: number) => void) | undefined;
  /** Resolves with the exit code when the keeper has to stop on its own (nothing can serve). */
  readonly fatal: Promise<number>;

  constructor(options: KeeperOptions) {
    this.#o = options;
    this.fatal = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  get stopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  /**
   * Starts the first generation; resolves once it serves, rejects with the reason when it never does.
   * Reloads asked for meanwhile run once it serves.
   */
  async start(): Promise<void> {
    const gen = this.#spawnGeneration();
    const failure = await gen.waitReady();
    if (failure !== undefined) {
      gen.state = 'failed';
      this.#neverServed = failure;
      if (!this.stopping) {
        this.#o.log('error', 'first generation never became ready', { gen: gen.id, reason: failure });
        const reason = `the first generation never served: ${failure}`;
        if (this.#queued.length > 0) {
          this.#o.log('warn', 'queued reloads not run: the first generation never served', {
            waiting: this.#queued.length,
          });
        }
        this.#answerQueued({ ok: false, generation: 0, reason });
        // Nothing will serve: the keeper's copy of the sockets goes now, not when the process exits.
        releaseSockets(this.#o.sockets);
      }
      await gen.drain();
      throw new Error(failure);
    }
    this.#serve(gen);
    this.#o.onServing?.();
    if (this.#queued.length > 0 && !this.#reloading) void this.#pump();
  }

  /**
   * Requests a reload. Requests made while one runs are coalesced into a single next reload; requests
   * made before the first generation serves wait for it (and are coalesced the same way).
   */
  reload(): Promise<ReloadResult> {
    if (this.stopping) return Promise.resolve({ ok: false, generation: 0, reason: STOPPING });
    if (this.#neverServed !== undefined) {
      return Promise.resolve({ ok: false, generation: 0, reason: 'the first generation never served' });
    }
    return new Promise((resolve) => {
      this.#queued.push(resolve);
      if (this.#current === undefined) {
        this.#o.log('info', 'reload queued: it runs once the first generation serves', {
          waiting: this.#queued.length,
        });
        return;
      }
      if (this.#queued.length > 1 || this.#reloading) {
        this.#o.log('info', 'reload requested; coalesced with the next one', {
          waiting: this.#queued.length,
        });
      }
      if (!this.#reloading) void this.#pump();
    });
  }

  #answerQueued(result: ReloadResult): void {
    for (const resolve of this.#queued.splice(0)) resolve(result);
  }

  async #pump(): Promise<void> {
    this.#reloading = true;
    while (this.#queued.length > 0) {
      const waiting = this.#queued;
      this.#queued = [];
      const result = await this.#reloadOnce(waiting.length);
      for (const resolve of waiting) resolve(result);
    }
    this.#reloading = false;
  }

  async #reloadOnce(requests: number): Promise<ReloadResult> {
    while (!this.stopping) {
      const draining = this.#generations.filter((g) => g.state === 'draining');
      if (draining.length < this.#o.maxDraining) break;
      this.#o.log('info', 'reload waits for a draining generation', { draining: draining.map((g) => g.id) });
      await Promise.race(draining.map((g) => g.drained));
    }
    if (this.stopping) return { ok: false, generation: 0, reason: STOPPING };
    const gen = this.#spawnGeneration();
    this.#o.log('info', 'reload started', { gen: gen.id, requests });
    const failure = await gen.waitReady();
    if (failure !== undefined || this.stopping) {
      const reason = failure ?? STOPPING;
      gen.state = 'failed';
      this.#reloads.rolledBack++;
      this.#o.log('error', 'reload rolled back; the old generation keeps serving', {
        gen: gen.id,
        serving: this.#current?.id,
        reason,
      });
      void gen.drain();
      return { ok: false, generation: gen.id, reason };
    }
    const old = this.#current;
    this.#serve(gen);
    this.#reloads.done++;
    this.#o.log('info', 'reload done', { gen: gen.id, previous: old?.id });
    if (old) void old.drain();
    return { ok: true, generation: gen.id };
  }

  #serve(gen: Generation): void {
    gen.state = 'serving';
    this.#current = gen;
    this.#o.log('info', 'generation serving', {
      gen: gen.id,
      pids: gen.workers.map((w) => w?.pid),
      ms: Date.now() - gen.startedAt,
    });
  }

  #spawnGeneration(): Generation {
    const o = this.#o;
    const gen = new Generation({
      id: this.#nextId++,
      command: o.command,
      sockets: o.sockets,
      workers: o.workers,
      env: o.env,
      readyTimeout: o.readyTimeout,
      drainTimeout: o.drainTimeout,
      settle: o.settle,
      log: o.log,
      stopping: this.#stopping.signal,
      onEmpty: (g) => {
        if (g !== this.#current || this.stopping) return;
        o.log('error', 'nothing can serve: every worker slot was given up', { gen: g.id });
        this.#finish?.(KeeperExit.NOTHING_SERVES);
      },
    });
    this.#generations.push(gen);
    return gen;
  }

  /**
   * Stops: the keeper closes its copy of the sockets at once, then every generation drains (each worker
   * stops accepting as its drain starts, so when the last one has, the socket is gone and new
   * connections are refused, never queued and reset). Resolves 0 when every worker drained cleanly.
   */
  async stop(reason: string): Promise<number> {
    if (!this.stopping) {
      this.#stopping.abort();
      releaseSockets(this.#o.sockets);
      this.#o.log('info', 'stopping: the sockets are released; draining every generation', { reason });
      for (const g of this.#generations) g.cancelRespawns();
      this.#answerQueued({ ok: false, generation: 0, reason: STOPPING });
    }
    await Promise.all(this.#generations.filter((g) => g.state !== 'done').map((g) => g.drain()));
    // Only workers this keeper asked to drain count: one that crashed on its own was already reported.
    const workers = this.#generations.flatMap((g) => g.workers);
    return workers.some((w) => w?.unclean) ? KeeperExit.UNCLEAN : KeeperExit.OK;
  }

  /** SIGKILL to every worker (the second signal: stop waiting). */
  kill(): void {
    for (const g of this.#generations) for (const w of g.live) w.kill();
  }

  /** Forwards a signal to the workers of the serving generation. */
  forward(signal: NodeJS.Signals): void {
    for (const w of this.#current?.live ?? []) w.signal(signal);
  }

  /** A snapshot for `lameduck status`; asks the live workers for their drain progress (bounded wait). */
  status(): Promise<KeeperSnapshot> {
    return snapshot({
      startedAt: this.#startedAt,
      state: this.stopping
        ? 'stopping'
        : this.#current === undefined
          ? 'starting'
          : this.#reloading
            ? 'reloading'
            : 'serving',
      serving: this.#current?.id,
      reloads: { ...this.#reloads },
      sockets: this.#o.sockets,
      generations: this.#generations.filter((g) => g.state !== 'done'),
    });
  }
}
