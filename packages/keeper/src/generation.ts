import { EventEmitter } from 'node:events';
import type { Incompatible } from '@lameduck/core/protocol';
import { SlotBackoff } from './backoff.js';
import type { KeeperLog } from './log.js';
import type { HeldSocket } from './sockets.js';
import { KeeperWorker, type WorkerState } from './worker.js';

export type GenerationState = 'starting' | 'serving' | 'draining' | 'failed' | 'done';

export interface GenerationOptions {
  id: number;
  command: readonly string[];
  sockets: readonly HeldSocket[];
  workers: number;
  env: NodeJS.ProcessEnv;
  readyTimeout: number;
  drainTimeout: number;
  settle: number;
  log: KeeperLog;
  /** Aborted when the keeper stops: nothing new is started, waits end. */
  stopping: AbortSignal;
  /** A serving slot was given up and nothing of this generation is left alive or about to start. */
  onEmpty(generation: Generation): void;
}

/** How long a late worker has to answer on its control channel before the keeper says it never opened it. */
const PROBE_MS = 1_000;

type WorkerEvent = { type: 'ready' | 'exit' | 'incompatible'; worker: KeeperWorker };

/**
 * A generation: N worker slots started together from the same code. It waits until every worker is
 * ready and stayed up for `settle`, replaces a worker of a serving generation that dies (with backoff,
 * giving a slot up after repeated failures), and drains all of its workers on request. Which generation
 * serves, and when one replaces another, is the keeper's business.
 */
export class Generation {
  readonly id: number;
  state: GenerationState = 'starting';
  readonly workers: (KeeperWorker | undefined)[] = [];
  readonly startedAt = Date.now();
  drainStartedAt: number | undefined;
  /** Consecutive failed starts per slot: when a dead worker is replaced, and when its slot is given up. */
  readonly backoff: SlotBackoff;
  readonly #o: GenerationOptions;
  readonly #events = new EventEmitter<{ worker: [WorkerEvent] }>();
  /** Pending replacements (backoff timers), cancelled when the keeper stops. */
  readonly #respawns = new Set<NodeJS.Timeout>();
  #drained: Promise<void> | undefined;

  constructor(o: GenerationOptions) {
    this.#o = o;
    this.id = o.id;
    this.backoff = new SlotBackoff(o.workers);
    this.#events.setMaxListeners(0);
    for (let slot = 0; slot < o.workers; slot++) this.workers[slot] = this.#spawn(slot);
  }

  get live(): KeeperWorker[] {
    return this.workers.filter((w): w is KeeperWorker => w?.alive === true);
  }

  get drained(): Promise<void> | undefined {
    return this.#drained;
  }

  #spawn(slot: number): KeeperWorker {
    const o = this.#o;
    const worker = new KeeperWorker({
      command: o.command,
      sockets: o.sockets,
      env: o.env,
      generation: this.id,
      slot,
      onReady: (w) => {
        o.log('info', 'worker ready', { gen: this.id, slot, pid: w.pid, ms: (w.readyAt ?? 0) - w.startedAt });
        this.#events.emit('worker', { type: 'ready', worker: w });
      },
      onIncompatible: (w, incompatible) => this.#onIncompatible(w, incompatible),
      onExit: (w, was) => this.#onExit(w, was),
      onSpawnError: (_w, error) =>
        o.log('error', 'worker could not be started', { gen: this.id, slot, error: error.message }),
    });
    o.log('info', 'worker started', { gen: this.id, slot, pid: worker.pid });
    return worker;
  }

  #onIncompatible(worker: KeeperWorker, incompatible: Incompatible): void {
    this.#o.log('error', 'worker speaks another control protocol version', {
      gen: this.id,
      slot: worker.slot,
      pid: worker.pid,
      theirs: incompatible.theirs,
      ours: incompatible.ours,
      error: incompatible.message,
    });
    this.#events.emit('worker', { type: 'incompatible', worker });
  }

  #onExit(worker: KeeperWorker, was: WorkerState): void {
    const { code, signal } = worker.exit ?? { code: null, signal: null };
    const fields = {
      gen: this.id,
      slot: worker.slot,
      pid: worker.pid,
      code,
      signal,
      was,
      killed: worker.killed || undefined,
    };
    this.#o.log(worker.stopping ? 'info' : 'warn', worker.stopping ? 'worker exited' : 'worker died', fields);
    this.#events.emit('worker', { type: 'exit', worker });
    if (!worker.stopping && this.state === 'serving') this.#replace(worker.slot, worker.readyAt);
  }

  /** Undefined once every worker is ready and stayed up for `settle`; otherwise why not. */
  waitReady(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const o = this.#o;
      let settleTimer: NodeJS.Timeout | undefined;
      let finished = false;
      /** The ready timeout passed: a ready report from now on comes too late (exits still count). */
      let expired = false;
      const done = (reason: string | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        clearTimeout(settleTimer);
        this.#events.removeListener('worker', onEvent);
        o.stopping.removeEventListener('abort', onAbort);
        resolve(reason);
      };
      const deadline = setTimeout(() => {
        expired = true;
        const late = this.workers.filter((w): w is KeeperWorker => w?.state === 'starting');
        void whyNotReady(late).then((why) =>
          done(`generation ${this.id} was not ready within ${o.readyTimeout} ms: ${why}`),
        );
      }, o.readyTimeout);
      const onAbort = () => done('the keeper is stopping');
      const onEvent = ({ type, worker }: WorkerEvent) => {
        if (type === 'incompatible') {
          done(
            `worker ${worker.slot} (pid ${worker.pid}) of generation ${this.id}: ${worker.incompatible?.message}`,
          );
          return;
        }
        if (type === 'exit') {
          const { code, signal } = worker.exit ?? { code: null, signal: null };
          const how = signal === null ? `with code ${code}` : `on ${signal}`;
          done(
            `worker ${worker.slot} (pid ${worker.pid}) of generation ${this.id} exited ${how} ${exitedWhen(worker)}`,
          );
          return;
        }
        if (expired) return;
        if (this.workers.every((w) => w?.state === 'ready') && settleTimer === undefined) {
          clearTimeout(deadline);
          settleTimer = setTimeout(() => done(undefined), o.settle);
        }
      };
      this.#events.on('worker', onEvent);
      o.stopping.addEventListener('abort', onAbort);
    });
  }

  /** A worker of the serving generation died: start another in its slot, with backoff. */
  #replace(slot: number, readyAt: number | undefined): void {
    const o = this.#o;
    const { failures, delayMs } = this.backoff.failed(slot, readyAt);
    if (delayMs === undefined) {
      o.log('error', 'worker slot given up: its replacements keep failing', { gen: this.id, slot, failures });
      this.workers[slot] = undefined;
      if (this.live.length === 0 && this.#respawns.size === 0) o.onEmpty(this);
      return;
    }
    o.log('info', 'worker restart scheduled', { gen: this.id, slot, inMs: delayMs, failures });
    const timer = setTimeout(() => {
      this.#respawns.delete(timer);
      if (o.stopping.aborted || this.state !== 'serving') return;
      const worker = this.#spawn(slot);
      this.workers[slot] = worker;
      const giveUp = (why: string) => {
        o.log('warn', 'replacement worker not ready; stopping it', {
          gen: this.id,
          slot,
          pid: worker.pid,
          why,
        });
        this.#stopWorker(worker);
        if (this.state === 'serving') this.#replace(slot, undefined);
      };
      const readyTimer = setTimeout(() => {
        this.#events.removeListener('worker', onEvent);
        void whyNotReady([worker]).then((why) => {
          // It may have reported ready, or died (and been replaced), while it was asked.
          if (worker.state !== 'starting') {
            if (worker.state === 'ready') this.backoff.succeeded(slot);
            return;
          }
          giveUp(`not ready within ${o.readyTimeout} ms: ${why}`);
        });
      }, o.readyTimeout);
      const onEvent = (event: WorkerEvent) => {
        if (event.worker !== worker) return;
        this.#events.removeListener('worker', onEvent);
        clearTimeout(readyTimer);
        if (event.type === 'ready') this.backoff.succeeded(slot);
        else if (event.type === 'incompatible') giveUp(worker.incompatible?.message ?? 'incompatible');
      };
      this.#events.on('worker', onEvent);
    }, delayMs);
    this.#respawns.add(timer);
  }

  cancelRespawns(): void {
    for (const timer of this.#respawns) clearTimeout(timer);
    this.#respawns.clear();
  }

  #stopWorker(worker: KeeperWorker): void {
    worker.stop(this.#o.drainTimeout, (w) =>
      this.#o.log('warn', 'worker did not drain in time; killing it', { gen: this.id, pid: w.pid }),
    );
  }

  /** SIGTERM to every worker, SIGKILL at the drain timeout; resolves once all of them exited. */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    const failed = this.state === 'failed';
    if (!failed) this.state = 'draining';
    this.drainStartedAt = Date.now();
    this.cancelRespawns();
    const workers = this.workers.filter((w): w is KeeperWorker => w !== undefined);
    this.#o.log('info', failed ? 'stopping failed generation' : 'generation draining', {
      gen: this.id,
      pids: workers.filter((w) => w.alive).map((w) => w.pid),
    });
    for (const w of workers) this.#stopWorker(w);
    this.#drained = Promise.all(workers.map((w) => w.exited)).then(() => {
      this.state = 'done';
      this.#o.log('info', failed ? 'failed generation stopped' : 'generation drained', {
        gen: this.id,
        ms: Date.now() - (this.drainStartedAt ?? Date.now()),
      });
    });
    return this.#drained;
  }
}

/** When a worker that ended a start-up exited: before it talked to the keeper, before ready, or after. */
function exitedWhen(worker: KeeperWorker): string {
  if (worker.readyAt !== undefined) return `${Date.now() - worker.readyAt} ms after ready`;
  if (worker.talked) return 'before ready (after it opened its control channel in lameduck.listen())';
  return 'before it talked to the keeper (it crashed or exited before calling lameduck.listen())';
}

/**
 * Why workers missed the ready timeout, in words an operator can act on. A worker that said hello on
 * its control channel, or answers on it now, called `lameduck.listen()` (which opens the channel) but
 * never reported ready; one that does neither never opened the channel, so it is not listening on the
 * keeper's socket at all: the usual cause is an app that calls `app.listen(port)` and binds a socket of
 * its own.
 */
export async function whyNotReady(late: readonly KeeperWorker[]): Promise<string> {
  const answers = await Promise.all(late.map((w) => (w.talked ? undefined : w.stats(PROBE_MS))));
  return late
    .map((w, i) =>
      !w.talked && answers[i] === undefined
        ? `worker ${w.slot} (pid ${w.pid}) never talked to the keeper (it did not open its control channel, so it is not serving on the keeper's socket from descriptor 3): does it call lameduck.listen()? app.listen(port) and server.listen(port) bind a socket of their own`
        : `worker ${w.slot} (pid ${w.pid}) took its sockets but never reported ready: with listen(…, { autoReady: false }) it must call lameduck.ready()`,
    )
    .join('; ');
}
