import { EventEmitter } from 'node:events';
import type { HeldSocket } from './bind.js';
import { type ChildChannel, signalChild, spawnChild } from './control.js';

/**
 * The keeper: a process with a stable PID and no application code. It holds the listening sockets for
 * its whole life and runs generations of workers on them. A reload starts a new generation, waits for
 * every worker of it to report ready and stay up for `settle`, and only then drains the old one: a new
 * generation that crashes, is not ready in time or exits right after ready is stopped and the old one
 * keeps serving. The sockets are never accepted on here, so nothing is refused while workers change.
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

export type KeeperLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

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

type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';
type GenerationState = 'starting' | 'serving' | 'draining' | 'failed' | 'done';

interface Worker {
  slot: number;
  gen: Generation;
  channel: ChildChannel;
  pid: number;
  state: WorkerState;
  startedAt: number;
  readyAt: number | undefined;
  stopping: boolean;
  killed: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<void>;
  readyTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
}

interface Generation {
  id: number;
  state: GenerationState;
  workers: (Worker | undefined)[];
  startedAt: number;
  drainStartedAt: number | undefined;
  drained: Promise<void> | undefined;
  /** Consecutive failed starts per slot, for backoff and giving up. */
  failures: number[];
  respawning: number;
}

export interface ReloadResult {
  ok: boolean;
  generation: number;
  reason?: string;
}

/** Restart backoff: 100 ms doubling to 10 s; a slot whose replacements fail this many times in a row is given up. */
const BACKOFF_MIN = 100;
const BACKOFF_MAX = 10_000;
const MAX_FAILURES = 5;
/** A worker that served this long is healthy: its crash starts the backoff over. */
const HEALTHY_MS = 10_000;

type WorkerEvent = { type: 'ready' | 'exit'; worker: Worker };

// The keeper's timers stay referenced: while workers are being replaced there may be no child process
// to keep the event loop alive, and the keeper must live until it is told to stop.
export class Keeper {
  readonly #o: KeeperOptions;
  readonly #events = new EventEmitter<{ worker: [WorkerEvent] }>();
  readonly #startedAt = Date.now();
  readonly #generations: Generation[] = [];
  readonly #stopping = new AbortController();
  #nextId = 1;
  #current: Generation | undefined;
  #reloading = false;
  #queued: ((result: ReloadResult) => void)[] = [];
  #reloads = { done: 0, rolledBack: 0 };
  /** Pending replacements of crashed workers (backoff timers), cancelled by stop(). */
  readonly #respawns = new Map<NodeJS.Timeout, Generation>();
  #finish: ((code: number) => void) | undefined;
  /** Resolves with the exit code when the keeper has to stop on its own (nothing can serve). */
  readonly fatal: Promise<number>;

  constructor(options: KeeperOptions) {
    this.#o = options;
    this.#events.setMaxListeners(0);
    this.fatal = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  get stopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  /** Starts the first generation; resolves once it serves, rejects with the reason when it never does. */
  async start(): Promise<void> {
    const gen = this.#spawnGeneration();
    const failure = await this.#waitReady(gen);
    if (failure !== undefined) {
      gen.state = 'failed';
      this.#o.log('error', 'first generation never became ready', { gen: gen.id, reason: failure });
      await this.#drainGeneration(gen);
      throw new Error(failure);
    }
    this.#serve(gen);
    this.#o.onServing?.();
  }

  /** Requests a reload. Requests made while one runs are coalesced into a single next reload. */
  reload(): Promise<ReloadResult> {
    if (this.stopping) return Promise.resolve({ ok: false, generation: 0, reason: 'the keeper is stopping' });
    if (this.#current === undefined) {
      return Promise.resolve({ ok: false, generation: 0, reason: 'the first generation is not serving yet' });
    }
    return new Promise((resolve) => {
      this.#queued.push(resolve);
      if (this.#queued.length > 1 || this.#reloading) {
        this.#o.log('info', 'reload requested; coalesced with the next one', {
          waiting: this.#queued.length,
        });
      }
      if (!this.#reloading) void this.#pump();
    });
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
    if (this.stopping) return { ok: false, generation: 0, reason: 'the keeper is stopping' };
    const gen = this.#spawnGeneration();
    this.#o.log('info', 'reload started', { gen: gen.id, requests });
    const failure = await this.#waitReady(gen);
    if (failure !== undefined || this.stopping) {
      const reason = failure ?? 'the keeper is stopping';
      gen.state = 'failed';
      this.#reloads.rolledBack++;
      this.#o.log('error', 'reload rolled back; the old generation keeps serving', {
        gen: gen.id,
        serving: this.#current?.id,
        reason,
      });
      void this.#drainGeneration(gen);
      return { ok: false, generation: gen.id, reason };
    }
    const old = this.#current;
    this.#serve(gen);
    this.#reloads.done++;
    this.#o.log('info', 'reload done', { gen: gen.id, previous: old?.id });
    if (old) void this.#drainGeneration(old);
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
    const gen: Generation = {
      id: this.#nextId++,
      state: 'starting',
      workers: [],
      startedAt: Date.now(),
      drainStartedAt: undefined,
      drained: undefined,
      failures: new Array<number>(this.#o.workers).fill(0),
      respawning: 0,
    };
    this.#generations.push(gen);
    for (let slot = 0; slot < this.#o.workers; slot++) gen.workers[slot] = this.#spawnWorker(gen, slot);
    return gen;
  }

  #spawnWorker(gen: Generation, slot: number): Worker {
    const env: NodeJS.ProcessEnv = {
      ...this.#o.env,
      LAMEDUCK_GENERATION: String(gen.id),
      LAMEDUCK_WORKER: String(slot),
    };
    // systemd talks to the keeper, the main process of the unit, not to its workers.
    delete env.NOTIFY_SOCKET;
    const channel = spawnChild({
      command: this.#o.command,
      fds: this.#o.sockets.map((s) => s.fd),
      names: this.#o.sockets.map((s) => s.name),
      role: 'keeper',
      env,
    });
    const child = channel.child;
    let exited!: () => void;
    const worker: Worker = {
      slot,
      gen,
      channel,
      pid: child.pid ?? 0,
      state: 'starting',
      startedAt: Date.now(),
      readyAt: undefined,
      stopping: false,
      killed: false,
      exit: undefined,
      exited: new Promise((resolve) => {
        exited = resolve;
      }),
      readyTimer: undefined,
      killTimer: undefined,
    };
    this.#o.log('info', 'worker started', { gen: gen.id, slot, pid: worker.pid });
    channel.on((message) => {
      if (message.type !== 'ready' || worker.state !== 'starting') return;
      worker.state = 'ready';
      worker.readyAt = Date.now();
      clearTimeout(worker.readyTimer);
      this.#o.log('info', 'worker ready', {
        gen: gen.id,
        slot,
        pid: worker.pid,
        ms: worker.readyAt - worker.startedAt,
      });
      this.#events.emit('worker', { type: 'ready', worker });
    });
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (worker.exit) return;
      worker.exit = { code, signal };
      const was = worker.state;
      worker.state = 'exited';
      clearTimeout(worker.readyTimer);
      clearTimeout(worker.killTimer);
      const fields = {
        gen: gen.id,
        slot,
        pid: worker.pid,
        code,
        signal,
        was,
        killed: worker.killed || undefined,
      };
      this.#o.log(
        worker.stopping ? 'info' : 'warn',
        worker.stopping ? 'worker exited' : 'worker died',
        fields,
      );
      exited();
      this.#events.emit('worker', { type: 'exit', worker });
      if (!worker.stopping && gen.state === 'serving') this.#replace(worker);
    };
    child.on('exit', onExit);
    child.on('error', (error) => {
      this.#o.log('error', 'worker could not be started', { gen: gen.id, slot, error: error.message });
      onExit(null, null);
    });
    return worker;
  }

  /** A worker of the serving generation died: start another in its slot, with backoff. */
  #replace(dead: Worker): void {
    const gen = dead.gen;
    const slot = dead.slot;
    if (dead.readyAt !== undefined && Date.now() - dead.readyAt >= HEALTHY_MS) gen.failures[slot] = 0;
    const failures = (gen.failures[slot] ?? 0) + 1;
    gen.failures[slot] = failures;
    if (failures > MAX_FAILURES) {
      this.#o.log('error', 'worker slot given up: its replacements keep failing', {
        gen: gen.id,
        slot,
        failures,
      });
      gen.workers[slot] = undefined;
      this.#checkServing(gen);
      return;
    }
    const delay = Math.min(BACKOFF_MIN * 2 ** (failures - 1), BACKOFF_MAX);
    this.#o.log('info', 'worker restart scheduled', { gen: gen.id, slot, inMs: delay, failures });
    gen.respawning++;
    const timer = setTimeout(() => {
      this.#respawns.delete(timer);
      gen.respawning--;
      if (this.stopping || gen.state !== 'serving') return;
      const worker = this.#spawnWorker(gen, slot);
      gen.workers[slot] = worker;
      worker.readyTimer = setTimeout(() => {
        this.#o.log('warn', 'replacement worker not ready in time; stopping it', {
          gen: gen.id,
          slot,
          pid: worker.pid,
        });
        this.#stopWorker(worker);
        if (gen.state === 'serving') this.#replace({ ...worker, readyAt: undefined });
      }, this.#o.readyTimeout);
      const onReady = (event: WorkerEvent) => {
        if (event.worker !== worker) return;
        this.#events.removeListener('worker', onReady);
        if (event.type === 'ready') gen.failures[slot] = 0;
      };
      this.#events.on('worker', onReady);
    }, delay);
    this.#respawns.set(timer, gen);
  }

  #checkServing(gen: Generation): void {
    if (gen !== this.#current || this.stopping) return;
    const alive = gen.workers.some((w) => w !== undefined && w.exit === undefined);
    if (!alive && gen.respawning === 0) {
      this.#o.log('error', 'nothing can serve: every worker slot was given up', { gen: gen.id });
      this.#finish?.(KeeperExit.NOTHING_SERVES);
    }
  }

  /** Undefined once every worker is ready and stayed up for `settle`; otherwise why not. */
  #waitReady(gen: Generation): Promise<string | undefined> {
    return new Promise((resolve) => {
      const o = this.#o;
      let settleTimer: NodeJS.Timeout | undefined;
      const done = (reason: string | undefined) => {
        clearTimeout(deadline);
        clearTimeout(settleTimer);
        this.#events.removeListener('worker', onEvent);
        this.#stopping.signal.removeEventListener('abort', onAbort);
        resolve(reason);
      };
      const deadline = setTimeout(() => {
        const late = gen.workers.filter((w) => w?.state === 'starting').map((w) => w?.pid);
        done(`generation ${gen.id} was not ready within ${o.readyTimeout} ms (pids ${late.join(', ')})`);
      }, o.readyTimeout);
      const onAbort = () => done('the keeper is stopping');
      const onEvent = ({ type, worker }: WorkerEvent) => {
        if (worker.gen !== gen) return;
        if (type === 'exit') {
          const { code, signal } = worker.exit ?? { code: null, signal: null };
          const how = signal === null ? `with code ${code}` : `on ${signal}`;
          const when =
            worker.readyAt === undefined ? 'before ready' : `${Date.now() - worker.readyAt} ms after ready`;
          done(`worker ${worker.slot} (pid ${worker.pid}) of generation ${gen.id} exited ${how} ${when}`);
          return;
        }
        if (gen.workers.every((w) => w?.state === 'ready') && settleTimer === undefined) {
          clearTimeout(deadline);
          settleTimer = setTimeout(() => done(undefined), o.settle);
        }
      };
      this.#events.on('worker', onEvent);
      this.#stopping.signal.addEventListener('abort', onAbort);
    });
  }

  #stopWorker(worker: Worker): void {
    if (worker.exit || worker.stopping) return;
    worker.stopping = true;
    worker.state = 'draining';
    signalChild(worker.channel.child, 'SIGTERM');
    worker.killTimer = setTimeout(() => {
      worker.killed = true;
      this.#o.log('warn', 'worker did not drain in time; killing it', {
        gen: worker.gen.id,
        pid: worker.pid,
      });
      signalChild(worker.channel.child, 'SIGKILL');
    }, this.#o.drainTimeout);
  }

  /** SIGTERM to every worker of the generation, SIGKILL at the drain timeout. */
  #drainGeneration(gen: Generation): Promise<void> {
    if (gen.drained !== undefined) return gen.drained;
    if (gen.state !== 'failed') gen.state = 'draining';
    gen.drainStartedAt = Date.now();
    const workers = gen.workers.filter((w): w is Worker => w !== undefined);
    this.#o.log('info', gen.state === 'failed' ? 'stopping failed generation' : 'generation draining', {
      gen: gen.id,
      pids: workers.filter((w) => !w.exit).map((w) => w.pid),
    });
    for (const w of workers) this.#stopWorker(w);
    gen.drained = Promise.all(workers.map((w) => w.exited)).then(() => {
      const wasFailed = gen.state === 'failed';
      gen.state = 'done';
      this.#o.log('info', wasFailed ? 'failed generation stopped' : 'generation drained', {
        gen: gen.id,
        ms: Date.now() - (gen.drainStartedAt ?? Date.now()),
      });
    });
    return gen.drained;
  }

  /** Drains every generation and resolves the exit code: 0 when every worker drained cleanly. */
  async stop(reason: string): Promise<number> {
    if (!this.stopping) {
      this.#stopping.abort();
      this.#o.log('info', 'stopping: draining every generation', { reason });
      for (const [timer, gen] of this.#respawns) {
        clearTimeout(timer);
        gen.respawning--;
      }
      this.#respawns.clear();
      for (const resolve of this.#queued.splice(0))
        resolve({ ok: false, generation: 0, reason: 'the keeper is stopping' });
    }
    const live = this.#generations.filter((g) => g.state !== 'done');
    await Promise.all(live.map((g) => this.#drainGeneration(g)));
    const all = this.#generations.flatMap((g) => g.workers.filter((w): w is Worker => w !== undefined));
    // Only workers this keeper asked to drain count: one that crashed on its own was already reported.
    const unclean = all.filter(
      (w) =>
        (w.stopping && w.killed) ||
        (w.stopping && w.exit !== undefined && w.exit.code !== 0 && w.exit.code !== null) ||
        (w.stopping && w.exit?.signal && w.exit.signal !== 'SIGTERM'),
    );
    return unclean.length === 0 ? KeeperExit.OK : KeeperExit.UNCLEAN;
  }

  /** SIGKILL to every worker (the second signal: stop waiting). */
  kill(): void {
    for (const g of this.#generations)
      for (const w of g.workers) if (w && !w.exit) signalChild(w.channel.child, 'SIGKILL');
  }

  /** Forwards a signal to the workers of the serving generation. */
  forward(signal: NodeJS.Signals): void {
    for (const w of this.#current?.workers ?? []) if (w && !w.exit) signalChild(w.channel.child, signal);
  }

  /** A snapshot for `lameduck status`; asks draining workers for their progress (bounded wait). */
  async status(): Promise<Record<string, unknown>> {
    const now = Date.now();
    const stats = new Map<number, { state: string; inFlight: number; connections: number }>();
    const live = this.#generations.flatMap((g) =>
      g.state === 'done' ? [] : g.workers.filter((w): w is Worker => w !== undefined && !w.exit),
    );
    const offs: (() => void)[] = [];
    await new Promise<void>((resolve) => {
      if (live.length === 0) return resolve();
      const timer = setTimeout(resolve, 300);
      timer.unref();
      for (const w of live) {
        offs.push(
          w.channel.on((m) => {
            if (m.type !== 'stats' || stats.has(w.pid)) return;
            stats.set(w.pid, m);
            if (stats.size === live.length) {
              clearTimeout(timer);
              resolve();
            }
          }),
        );
        w.channel.send({ type: 'stats' });
      }
    });
    for (const off of offs) off();
    return {
      keeper: {
        pid: process.pid,
        uptimeMs: now - this.#startedAt,
        state: this.stopping ? 'stopping' : this.#reloading ? 'reloading' : 'serving',
        serving: this.#current?.id,
        reloads: { ...this.#reloads },
      },
      sockets: this.#o.sockets.map((s) => ({ name: s.name, address: s.address, fd: s.fd })),
      generations: this.#generations
        .filter((g) => g.state !== 'done')
        .map((g) => ({
          id: g.id,
          state: g.state,
          uptimeMs: now - g.startedAt,
          drainingMs: g.drainStartedAt === undefined ? undefined : now - g.drainStartedAt,
          workers: g.workers.map((w, slot) =>
            w === undefined
              ? { slot, state: 'given-up' }
              : {
                  slot,
                  pid: w.pid,
                  state: w.state,
                  uptimeMs: now - w.startedAt,
                  restarts: g.failures[slot] ?? 0,
                  ...(stats.has(w.pid)
                    ? { inFlight: stats.get(w.pid)?.inFlight, connections: stats.get(w.pid)?.connections }
                    : {}),
                },
          ),
        })),
    };
  }
}
