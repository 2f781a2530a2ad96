import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AttachedServers } from './attached-servers.js';
import { subscribeDiscovery, subscribeRequests } from './channels.js';
import { ConnectionTracker } from './connections.js';
import { describeValue } from './describe-value.js';
import { ErrorCodes, LameduckError } from './errors.js';
import { pathOf, sendHealth } from './health.js';
import { resolveHandleOptions } from './health-options.js';
import { HookRegistry } from './hooks.js';
import type { MessageSocket } from './http1-internals.js';
import { silentLogger, stderrLogger } from './logger.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { ExitPolicy } from './process-exit.js';
import { Handover, type ListenOptions, type ListenTarget, type ReadyOptions } from './restart/handover.js';
import {
  type BindRestartOptions,
  bindRestartSignal,
  type RestartOptions,
  type RestartResult,
  restart as selfUpgrade,
} from './restart/self-upgrade.js';
import { ownershipOf, serverKind } from './servers.js';
import { runShutdown, type ShutdownHost } from './shutdown.js';
import type {
  AnyRequest,
  AnyServer,
  HookFn,
  HookOptions,
  LameduckEvents,
  LameduckLogger,
  LameduckOptions,
  LameduckState,
  RequestListener,
  ShutdownReport,
} from './types.js';
import { answerUnavailable } from './unavailable.js';

/** Options of {@link Lameduck.handle}. */
export interface HandleOptions {
  /** Answer readiness probes at this path (200 while ready, 503 from the first moment of shutdown). */
  readinessPath?: string | false;
  /** Answer liveness probes at this path (200 until the shutdown is over). */
  livenessPath?: string | false;
}

/**
 * A graceful-shutdown lifecycle: it owns any number of servers, drains them on `shutdown()` or on a
 * signal, runs hooks and resolves a {@link ShutdownReport}. Create it with {@link createLameduck}.
 */
export class Lameduck extends EventEmitter<LameduckEvents> {
  readonly #opts: ResolvedOptions;
  readonly #log: LameduckLogger;
  readonly #tracker: ConnectionTracker;
  readonly #hooks: HookRegistry;
  readonly #servers: AttachedServers;
  readonly #id = {};
  readonly #shutdownController = new AbortController();
  #state: LameduckState = 'ready';
  #discovering: boolean;
  #stopDiscovery: (() => void) | undefined;
  #stopRequests: (() => void) | undefined;
  readonly #exit: ExitPolicy;
  #shutdown: Promise<ShutdownReport> | undefined;
  /** What the running shutdown wants to hear about every change of connections and listeners. */
  #watch: (() => void) | undefined;
  /** listen(), ready(), restart(): made on first use (restart/handover.ts). */
  #handover: Handover | undefined;
  #disposed = false;

  constructor(options?: LameduckOptions) {
    super();
    this.#opts = resolveOptions(options);
    if (this.#opts.drainDelay > 0 && this.#opts.drainDelay >= this.#opts.timeout) {
      throw new LameduckError(
        ErrorCodes.OPTIONS_INVALID,
        `Option "drainDelay" (${this.#opts.drainDelay} ms) must be shorter than "timeout" (${this.#opts.timeout} ms), or the deadline passes before the listeners close.`,
      );
    }
    const logger = this.#opts.logger;
    this.#log = logger === false ? silentLogger : (logger ?? stderrLogger());
    this.#hooks = new HookRegistry(this.#opts.hookTimeout);
    this.#tracker = new ConnectionTracker({
      idleGrace: this.#opts.idleGrace,
      lateRequests: this.#opts.lateRequests,
      retryAfter: this.#opts.retryAfter,
      onChange: () => this.#watch?.(),
      onUpgraded: (socket, request) => {
        if (this.listenerCount('upgraded') === 0) return false;
        this.emit('upgraded', { socket, request });
        return true;
      },
    });
    this.#servers = new AttachedServers(this.#id, this.#tracker, () => this.#watch?.());
    this.#discovering = this.#opts.discover;
    // Nothing is subscribed per request while serving: the drain learns what is in flight from node's
    // own bookkeeping when it starts, so serving costs what it costs without lameduck.
    if (this.#discovering) {
      this.#stopDiscovery = subscribeDiscovery(
        (server) => this.#owns(server),
        (socket, server) => this.#discovered(socket, server),
      );
    }

    this.#exit = new ExitPolicy(this.#id, this.#opts.signals, this.#opts.exit, {
      log: this.#log,
      shutdown: (signal) => {
        void this.#shutdownFor(signal, signal);
      },
      forceExit: (event) => this.emit('forceExit', event),
      resetStreams: () => this.#tracker.resetStreams(),
    });
  }

  /** `ready`, `draining`, `closing` or `closed`. */
  get state(): LameduckState {
    return this.#state;
  }

  /** True until the shutdown starts: what the readiness probe answers. */
  get isReady(): boolean {
    return this.#state === 'ready';
  }

  /** Aborts the moment the shutdown starts: hand it to long polls, streams and consumers. */
  get shutdownSignal(): AbortSignal {
    return this.#shutdownController.signal;
  }

  /** Requests in flight right now, across every server. */
  get inFlight(): number {
    return this.#tracker.inFlight;
  }

  /** Open connections (HTTP/1 sockets and HTTP/2 sessions) right now, across every server. */
  get connections(): number {
    return this.#tracker.openConnections;
  }

  /**
   * Drains this server on shutdown. Accepts node `http`, `https` and `http2` (plain and secure) servers;
   * attaching one twice is a no-op. Attach before `listen()` so that every connection is seen. Turns off
   * discovery: once you attach, lameduck drains exactly the servers you gave it.
   *
   * @example
   * const server = http.createServer(handler);
   * lameduck.attach(server);
   * server.listen(8080);
   */
  attach(server: AnyServer): this {
    this.#assertUsable('attach');
    const kind = serverKind(server);
    if (kind === undefined) {
      throw new LameduckError(
        ErrorCodes.ATTACH_NOT_A_SERVER,
        `attach() takes a node http, https or http2 server, got ${describeValue(server)}.`,
      );
    }
    if (this.#discovering) {
      // Discovery is over: its channels go, and the servers it found stay attached.
      this.#discovering = false;
      this.#stopDiscovery?.();
      this.#stopDiscovery = undefined;
    }
    const owner = this.#servers.foreignOwner(server);
    if (owner?.explicit) {
      throw new LameduckError(
        ErrorCodes.ATTACH_OWNED,
        'attach() was given a server another lameduck lifecycle already drains; share one lifecycle between them instead.',
      );
    }
    owner?.release();
    this.#servers.add(server, kind, true);
    return this;
  }

  /**
   * Registers a shutdown hook. Hooks of a phase run one at a time in registration order; each gets an
   * AbortSignal that fires at its timeout, after which the sequence moves on. Errors and timeouts are
   * caught and reported. Returns a function that unregisters the hook.
   *
   * @example
   * lameduck.onShutdown('flush-cache', async ({ signal }) => { await cache.flush({ signal }) }, { timeout: 3000 });
   * lameduck.onShutdown('stop-consumer', () => consumer.pause(), { phase: 'beforeDrain' });
   */
  onShutdown(name: string, fn: HookFn, options?: HookOptions): () => void {
    this.#assertUsable('onShutdown');
    if (this.#shutdown !== undefined) {
      throw new LameduckError(
        ErrorCodes.HOOK_LATE,
        `Hook "${String(name)}" was registered after the shutdown started; register hooks at start-up.`,
      );
    }
    return this.#hooks.add(name, fn, options);
  }

  /**
   * Starts the graceful shutdown, or returns the one already running. The promise never rejects; the
   * call throws (synchronously, `LAMEDUCK_ERR_DISPOSED`) only on a disposed lifecycle, which no longer
   * tracks anything and so has nothing to drain.
   *
   * @example
   * const report = await lameduck.shutdown('deploy');
   * logger.info(report, 'shutdown report');
   */
  shutdown(reason = 'manual'): Promise<ShutdownReport> {
    this.#assertUsable('shutdown');
    return this.#shutdownFor(reason, undefined);
  }

  /**
   * The drain gate for adapters and plain handlers: true when lameduck answered this request itself
   * (a 503 after the listeners closed) or it must not run (pipelined behind a response that closes the
   * connection); the handler must then do nothing more. Cheap while the server is serving.
   */
  gate(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.#state === 'ready') return false;
    if (this.#tracker.gate(req)) return true;
    // A request on a server lameduck does not track (discovery off and never attached).
    if (this.#tracker.mode === 'draining' && this.#tracker.lateRequests === 'reject' && !res.headersSent) {
      answerUnavailable(req, res, this.#opts.retryAfter);
      return true;
    }
    return false;
  }

  /**
   * The AbortSignal of a request. It fires when the drain deadline passes while the request still runs,
   * just before its connection is destroyed; a handler can stop work and answer.
   */
  signalFor(request: AnyRequest): AbortSignal {
    return this.#tracker.signalFor(request);
  }

  /** Readiness probe handler: 200 while ready, 503 from the first moment of the shutdown. */
  readonly readiness = (req: IncomingMessage, res: ServerResponse): void => {
    this.#tracker.probeAnswered(req);
    sendHealth(req, res, this.isReady, this.isReady ? 'ready' : 'draining');
  };

  /** Liveness probe handler: 200 until the shutdown is over. */
  readonly liveness = (req: IncomingMessage, res: ServerResponse): void => {
    const alive = this.#state !== 'closed';
    this.#tracker.probeAnswered(req);
    sendHealth(req, res, alive, alive ? 'alive' : 'closed');
  };

  /**
   * Wraps a plain node request listener with the gate and, optionally, health routes.
   *
   * @example
   * const server = http.createServer(lameduck.handle(app, { readinessPath: '/readyz', livenessPath: '/livez' }));
   */
  handle(listener: RequestListener, options?: HandleOptions): RequestListener {
    this.#assertUsable('handle');
    if (typeof listener !== 'function') {
      throw new LameduckError(
        ErrorCodes.HANDLE_NOT_A_LISTENER,
        `handle() takes a request listener function (req, res) => void, got ${describeValue(listener)}.`,
      );
    }
    // The same validation as the adapters' options: a path that can never match is refused here.
    const { readinessPath, livenessPath } = resolveHandleOptions(options);
    const tracker = this.#tracker;
    const wrapper: RequestListener = (req, res) => {
      if (this.#state === 'ready') {
        // The one thing the drain needs to know of a request while serving: whether node queued its
        // response behind another (pipelining). The usual request is the one node is answering.
        if (req.httpVersionMajor === 1 && (req.socket as MessageSocket)._httpMessage !== res) {
          tracker.onServingPipelined(req, res);
        }
      } else if (this.gate(req, res)) return;
      if (readinessPath !== undefined || livenessPath !== undefined) {
        const path = pathOf(req.url);
        if (path === readinessPath) return this.readiness(req, res);
        if (path === livenessPath) return this.liveness(req, res);
      }
      listener(req, res);
    };
    // A server whose only 'request' listeners are such wrappers needs no listener of the tracker's.
    tracker.addNotingListener(wrapper);
    return wrapper;
  }

  /**
   * Stops tracking and removes every listener this lifecycle installed (signals, diagnostics channels,
   * server events) without shutting anything down. For tests, and for a lifecycle that is replaced.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unsubscribe();
    this.#exit.release();
    this.#handover?.dispose();
    this.#servers.releaseAll();
    this.#tracker.dispose();
  }

  #assertUsable(method: string): void {
    if (this.#disposed) {
      throw new LameduckError(
        ErrorCodes.DISPOSED,
        `${method}() was called on a disposed lameduck lifecycle.`,
      );
    }
  }

  #unsubscribe(): void {
    this.#stopDiscovery?.();
    this.#stopDiscovery = undefined;
    this.#stopRequests?.();
    this.#stopRequests = undefined;
  }

  /** True when this lifecycle drains the server, adopting it first when discovery is on. */
  #owns(server: AnyServer): boolean {
    if (this.#servers.has(server)) return true;
    if (!this.#discovering || this.#disposed || this.#state === 'closed') return false;
    const kind = serverKind(server);
    if (kind === undefined || ownershipOf(server) !== undefined) return false;
    this.#servers.add(server, kind, false);
    this.#log.debug?.({ kind }, 'discovered a server');
    return true;
  }

  /** A connection found by discovery: its server's 'connection' event is already past, so track it here. */
  #discovered(socket: Socket, server: AnyServer): void {
    if (!this.#owns(server)) return;
    const kind = this.#servers.kindOf(server);
    if (kind === 'http') this.#tracker.trackSocket(socket, server);
    else if (kind === 'https' || kind === 'http2-secure') this.#tracker.trackHandshake(socket);
  }

  #setState(to: LameduckState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    if (to === 'closed') this.#unsubscribe();
    this.emit('state', { from, to });
  }

  #shutdownFor(reason: string, signal: NodeJS.Signals | undefined): Promise<ShutdownReport> {
    if (this.#shutdown === undefined) {
      // Assigned before the sequence starts: a listener of its synchronous events that calls shutdown()
      // again gets this same promise.
      let running!: Promise<ShutdownReport>;
      this.#shutdown = Promise.resolve().then(() => running);
      running = runShutdown(this.#host(), reason, signal);
      this.#exit.shutdownStarted(this.#shutdown, signal);
    } else if (signal !== undefined) {
      // A signal during a shutdown started otherwise: the process exits after its report.
      this.#exit.shutdownStarted(this.#shutdown, signal);
    }
    return this.#shutdown;
  }

  /** The narrow view of this lifecycle that the shutdown sequence works with (shutdown.ts). */
  #host(): ShutdownHost {
    return {
      options: this.#opts,
      log: this.#log,
      tracker: this.#tracker,
      hooks: this.#hooks,
      serverCount: () => this.#servers.size,
      setState: (to) => this.#setState(to),
      abortShutdownSignal: (reason) => this.#shutdownController.abort(reason),
      trackEveryRequest: () => {
        this.#stopRequests ??= subscribeRequests((m) => {
          if (this.#owns(m.server)) this.#tracker.onRequest(m.request, m.response);
        });
      },
      closeListeners: () => this.#servers.closeListeners(),
      listenersClosed: () => this.#servers.listenersClosed(),
      closeAllConnections: () => this.#servers.destroyConnections(),
      watch: (onChange) => {
        this.#watch = onChange;
      },
      emit: (event, ...args) => (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args),
    };
  }

  // ── Zero-downtime restart (docs/restart.md): thin delegates to ./restart/. ─────────────────────────

  /** The hand-over of this lifecycle, over a narrow view of it (restart/handover.ts). */
  #handoverOf(): Handover {
    if (this.#handover === undefined) {
      const lifecycle = this;
      this.#handover = new Handover({
        get state() {
          return lifecycle.state;
        },
        get inFlight() {
          return lifecycle.inFlight;
        },
        get connections() {
          return lifecycle.connections;
        },
        attach: (server) => {
          this.attach(server);
        },
        shutdown: (reason) => this.shutdown(reason),
        serveLateRequests: () => this.#tracker.serveLateRequests(),
        exitAfter: (shutdown, exit) => this.#exit.exitAfter(shutdown, exit),
        log: this.#log,
      });
    }
    return this.#handover;
  }

  /**
   * Listens on a socket handed over by the keeper (`lameduck run`), by a restarting parent or by systemd
   * socket activation when one matches `target` (a port, `{ port, host }`, `{ path }` or a socket name),
   * otherwise binds it as usual; attaches the server. Once every server given to `listen()` listens,
   * reports ready on its own unless `autoReady: false`.
   *
   * @example
   * const server = http.createServer(lameduck.handle(app));
   * await lameduck.listen(server, { port: 8080 });
   */
  listen(
    server: AnyServer,
    target: ListenTarget,
    options?: ListenOptions,
  ): Promise<ReturnType<AnyServer['address']>> {
    return this.#handoverOf().listen(server, target, options);
  }

  /**
   * Reports that start-up is complete: to the keeper or restarting parent, or (on its own) by writing
   * the PID file and, with `systemd: true`, through `systemd-notify`. Needed only with `autoReady: false`.
   *
   * @example
   * await lameduck.listen(server, { port: 8080 }, { autoReady: false });
   * await cache.warm();
   * await lameduck.ready();
   */
  ready(options?: ReadyOptions): Promise<void> {
    this.#assertUsable('ready');
    return this.#handoverOf().ready(options);
  }

  /**
   * Self-upgrade: starts this same command with the listening sockets, waits for its ready report, then
   * drains this process and exits. Rejects, and keeps serving, when the new process crashes or is not
   * ready in time; refused during a drain or while another restart runs. `bindRestart()` ties it to SIGHUP.
   *
   * @example
   * process.on('SIGUSR2', () => { lameduck.restart().catch((err) => logger.error(err, 'restart rolled back')) });
   */
  restart(options?: RestartOptions): Promise<RestartResult> {
    this.#assertUsable('restart');
    return selfUpgrade(this.#handoverOf(), options);
  }

  /**
   * Restarts on a signal (SIGHUP by default, or SIGUSR2): a self-upgrade through {@link restart}, whose
   * failure is logged and changes nothing. Returns the function that removes the binding; dispose()
   * removes it too. Binding one signal twice is a no-op.
   *
   * @example
   * await lameduck.listen(server, { port: 8080 });
   * lameduck.bindRestart({ signal: 'SIGHUP', pidFile: '/run/app.pid' });
   */
  bindRestart(options?: BindRestartOptions): () => void {
    this.#assertUsable('bindRestart');
    return bindRestartSignal(this.#handoverOf(), options);
  }
  // ── End of the restart block. ─────────────────────────────────────────────────────────────────────
}

/**
 * Creates a graceful-shutdown lifecycle. With no other call, SIGTERM and SIGINT drain every http,
 * https and http2 server of the process and exit.
 *
 * @example
 * import http from 'node:http';
 * import { createLameduck } from '@lameduck/core';
 *
 * const lameduck = createLameduck({ drainDelay: 5000 });
 * const server = http.createServer(lameduck.handle(app, { readinessPath: '/readyz' }));
 * lameduck.attach(server);
 * lameduck.onShutdown('db', () => pool.end());
 * server.listen(8080);
 */
export function createLameduck(options?: LameduckOptions): Lameduck {
  return new Lameduck(options);
}
