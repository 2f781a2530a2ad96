import { type ChildChannel, type Incompatible, signalChild, spawnChild } from '@lameduck/core/protocol';
import type { HeldSocket } from './sockets.js';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a worker reports about its drain (the core's `state`, `inFlight` and `connections`). */
export interface WorkerStats {
  state: string;
  inFlight: number;
  connections: number;
}

export interface WorkerSpawnOptions {
  command: readonly string[];
  sockets: readonly HeldSocket[];
  env: NodeJS.ProcessEnv;
  generation: number;
  slot: number;
  onReady(worker: KeeperWorker): void;
  /** It speaks another version of the control protocol: it will never be ready in a way the keeper understands. */
  onIncompatible(worker: KeeperWorker, incompatible: Incompatible): void;
  /** `was`: its state when it exited (starting, ready or draining). */
  onExit(worker: KeeperWorker, was: WorkerState): void;
  onSpawnError(worker: KeeperWorker, error: Error): void;
}

/**
 * One worker process as the keeper sees it: started with the sockets from descriptor 3 (the systemd
 * protocol) and a control channel after them; `ready` once it says so on the channel, `draining` once
 * asked to stop, `exited` when it is gone. It knows nothing of generations, reloads or replacements.
 */
export class KeeperWorker {
  readonly slot: number;
  readonly generation: number;
  readonly pid: number;
  readonly startedAt = Date.now();
  state: WorkerState = 'starting';
  readyAt: number | undefined;
  /** The keeper asked it to stop (SIGTERM): its exit is expected, not a crash. */
  stopping = false;
  /** It was killed at the drain timeout. */
  killed = false;
  exit: WorkerExit | undefined;
  /** It said hello on its control channel: it reached `lameduck.listen()` (or `ready()`). */
  talked = false;
  /** Set when it speaks another version of the control protocol. */
  incompatible: Incompatible | undefined;
  readonly exited: Promise<void>;
  readonly #channel: ChildChannel;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(o: WorkerSpawnOptions) {
    this.slot = o.slot;
    this.generation = o.generation;
    const env: NodeJS.ProcessEnv = {
      ...o.env,
      LAMEDUCK_GENERATION: String(o.generation),
      LAMEDUCK_WORKER: String(o.slot),
    };
    // systemd talks to the keeper, the main process of the unit, not to its workers.
    delete env.NOTIFY_SOCKET;
    this.#channel = spawnChild({
      command: o.command,
      fds: o.sockets.map((s) => s.fd),
      names: o.sockets.map((s) => s.name),
      role: 'keeper',
      env,
    });
    const child = this.#channel.child;
    this.pid = child.pid ?? 0;
    let exited!: () => void;
    this.exited = new Promise((resolve) => {
      exited = resolve;
    });
    this.#channel.on((message) => {
      if (message.type === 'incompatible') {
        if (this.incompatible !== undefined) return;
        this.incompatible = message;
        o.onIncompatible(this, message);
        return;
      }
      this.talked = true;
      if (message.type !== 'ready' || this.state !== 'starting') return;
      this.state = 'ready';
      this.readyAt = Date.now();
      o.onReady(this);
    });
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.exit) return;
      this.exit = { code, signal };
      const was = this.state;
      this.state = 'exited';
      clearTimeout(this.#killTimer);
      exited();
      o.onExit(this, was);
    };
    child.on('exit', onExit);
    child.on('error', (error) => {
      o.onSpawnError(this, error);
      onExit(null, null);
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** SIGTERM now (the worker drains), SIGKILL after `drainTimeout` unless it exited by then. */
  stop(drainTimeout: number, onKill: (worker: KeeperWorker) => void): void {
    if (this.exit || this.stopping) return;
    this.stopping = true;
    this.state = 'draining';
    signalChild(this.#channel.child, 'SIGTERM');
    this.#killTimer = setTimeout(() => {
      this.killed = true;
      onKill(this);
      signalChild(this.#channel.child, 'SIGKILL');
    }, drainTimeout);
  }

  /** SIGKILL to the worker's process group (what it started dies with it). */
  kill(): void {
    if (this.exit === undefined) signalChild(this.#channel.child, 'SIGKILL');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit === undefined) signalChild(this.#channel.child, signal);
  }

  /** An exit the keeper asked for that did not go well: killed, a non-zero code, or another signal. */
  get unclean(): boolean {
    if (!this.stopping || this.exit === undefined) return false;
    const { code, signal } = this.exit;
    return this.killed || (code !== null && code !== 0) || (signal !== null && signal !== 'SIGTERM');
  }

  /**
   * Asks the worker for its drain progress over the control channel. Undefined when it does not answer
   * within `ms`: it exited, is busy, or never opened the channel (it never called `lameduck.listen()`).
   */
  stats(ms: number): Promise<WorkerStats | undefined> {
    if (this.exit !== undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), ms);
      const off = this.#channel.on((m) => {
        if (m.type === 'stats') finish({ state: m.state, inFlight: m.inFlight, connections: m.connections });
        else if (m.type === 'incompatible') finish(undefined);
      });
      const finish = (stats: WorkerStats | undefined) => {
        clearTimeout(timer);
        off();
        resolve(stats);
      };
      this.#channel.send({ type: 'stats' });
    });
  }
}
