import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';

/** Any server lameduck can drain. */
export type AnyServer = HttpServer | HttpsServer | Http2Server | Http2SecureServer;

/** A request lameduck can give an AbortSignal for. */
export type AnyRequest = IncomingMessage | Http2ServerRequest | ServerHttp2Stream;

/**
 * `ready` → `draining` (readiness fails, listeners close, in-flight work finishes) → `closing`
 * (servers are closed, after-drain hooks run) → `closed` (the report is final).
 */
export type LameduckState = 'ready' | 'draining' | 'closing' | 'closed';

/** The pino shape: an object of fields first, then a message. */
export interface LameduckLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

/** When a shutdown hook runs. */
export type HookPhase = 'beforeDrain' | 'afterDrain';

export interface HookOptions {
  /** Milliseconds before the hook's signal aborts and the sequence moves on. Default: `hookTimeout`. */
  timeout?: number;
  /** `beforeDrain` runs at once, alongside the drain delay; `afterDrain` (default) after every server closed. */
  phase?: HookPhase;
}

export interface HookContext {
  /** Aborts when the hook's timeout passes. Pass it on to whatever the hook awaits. */
  signal: AbortSignal;
  /** Why the shutdown started (`'SIGTERM'`, `'manual'`, …). */
  reason: string;
}

export type HookFn = (context: HookContext) => unknown;

/** The adaptive form of the `drainDelay` option: see there. */
export interface AdaptiveDrainDelay {
  /** The longest the delay lasts, in ms, whatever the traffic. */
  max: number;
  /** The delay ends once no request has arrived for this many ms. From 1 to `max`. */
  quiet: number;
}

export interface LameduckOptions {
  /**
   * Milliseconds from the start of the shutdown until in-flight requests are aborted and what remains is
   * destroyed. Default 20 000: Kubernetes sends SIGKILL 30 s after SIGTERM by default, which leaves 10 s
   * for after-drain hooks and exit.
   */
  timeout?: number;
  /**
   * How long to keep serving (with `Connection: close` on every response) after readiness fails and
   * before the listeners close, so load balancers stop sending new connections first. Default 0;
   * 5 000–10 000 behind a Kubernetes Service.
   *
   * A number is a fixed delay in milliseconds. `{ max, quiet }` is adaptive: the delay ends once no
   * request has arrived for `quiet` ms (readiness and liveness probes answered by lameduck do not count),
   * and never later than `max` ms. Every response in the delay closes its connection, so clients that
   * are still routed here come back on new connections: when none come for `quiet` ms, the load balancer
   * has stopped routing here. Pick `quiet` longer than the longest gap between requests at your lowest
   * traffic; a service that is often idle is better served by a fixed delay.
   */
  drainDelay?: number | AdaptiveDrainDelay;
  /**
   * How long (ms) a keep-alive socket must have been idle before the drain closes it. Closing a socket
   * the instant it turns idle races a client that is just sending its next request on it (a reset);
   * a client that is reusing the socket sends within this window and is answered with
   * `Connection: close` instead. Default 250.
   */
  idleGrace?: number;
  /**
   * What a request that arrives on an open keep-alive socket after the listeners closed gets:
   * `'reject'` (default) answers `503` with `Connection: close` and `Retry-After`; `'serve'` runs it,
   * with `Connection: close` (Go's behaviour).
   */
  lateRequests?: 'reject' | 'serve';
  /** Seconds sent in `Retry-After` on a 503; `false` sends none. Default 1. */
  retryAfter?: number | false;
  /** Signals that start the shutdown. Default `['SIGTERM', 'SIGINT']`; `false` installs no listener. */
  signals?: readonly NodeJS.Signals[] | false;
  /**
   * Exit the process when a signal-started shutdown is over (only when this lifecycle owns signals).
   * Default true.
   */
  exit?: boolean;
  /** Default timeout (ms) of a hook registered without one. Default 5 000. */
  hookTimeout?: number;
  /** A pino-shaped logger; `false` for silence. Default: one concise line per phase on stderr. */
  logger?: LameduckLogger | false;
  /**
   * Find the http, https and http2 servers of the process without `attach()` (through
   * `diagnostics_channel`), for as long as `attach()` was never called. Default true.
   */
  discover?: boolean;
}

export interface HookReport {
  name: string;
  phase: HookPhase;
  outcome: 'ok' | 'error' | 'timeout';
  durationMs: number;
  /** The error message when `outcome` is `'error'`. */
  error?: string;
}

export interface PhaseTimes {
  /** Drain delay and before-drain hooks, which run side by side. */
  delayMs: number;
  /** From closing the listeners until the last request and socket were done (or the deadline). */
  drainMs: number;
  /** After-drain hooks. */
  hooksMs: number;
}

export interface ShutdownReport {
  /** What started the shutdown: a signal name, `'manual'`, or the reason given to `shutdown()`. */
  reason: string;
  /** The signal, when a signal started it. */
  signal?: NodeJS.Signals;
  startedAt: string;
  durationMs: number;
  phases: PhaseTimes;
  /** True when the drain reached `timeout` and had to abort requests or destroy sockets. */
  deadlineReached: boolean;
  servers: number;
  requests: {
    /** In flight when the shutdown started. */
    inFlightAtStart: number;
    /** Finished with a complete response during the shutdown. */
    completed: number;
    /** Answered 503 by the gate, or never run because the connection was already closing. */
    rejected: number;
    /** Still running at the deadline: their AbortSignal fired and their connection was destroyed. */
    aborted: number;
    /** The client went away before the response was complete. */
    disconnected: number;
  };
  sockets: {
    /** Open (HTTP/1 sockets and HTTP/2 sessions) when the shutdown started. */
    openAtStart: number;
    /** Closed by the drain after being idle for `idleGrace`. */
    closedIdle: number;
    /** Closed after their last response (`Connection: close` or GOAWAY), or by the client. */
    closedAfterResponse: number;
    /** Upgraded sockets (WebSocket) that closed during the drain. */
    upgradedClosed: number;
    /** Destroyed at the deadline. */
    forced: number;
  };
  hooks: HookReport[];
  /** 0 clean; 1 when the deadline was reached or a hook failed or timed out. */
  exitCode: number;
}

/** Passed with the `upgraded` event: close this socket properly (WebSocket close code 1001). */
export interface UpgradedSocketInfo {
  socket: Duplex;
  request: IncomingMessage;
}

/** Typed events of a lifecycle. lameduck never emits `'error'`. */
export interface LameduckEvents {
  state: [{ from: LameduckState; to: LameduckState }];
  shutdown: [{ reason: string; signal?: NodeJS.Signals }];
  /** The listeners closed; the drain is running. */
  drain: [{ inFlight: number; sockets: number }];
  /**
   * An upgraded socket must close: at the start of the drain for every upgraded socket, and at once for
   * one upgraded during the drain. Close it gracefully (WebSocket close code 1001); it is destroyed at
   * the deadline. With no listener, upgraded sockets are destroyed when the drain starts.
   */
  upgraded: [UpgradedSocketInfo];
  deadline: [{ inFlight: number; sockets: number }];
  hook: [HookReport];
  report: [ShutdownReport];
  /** A second signal arrived during the shutdown; the process exits at once when lameduck owns signals. */
  forceExit: [{ signal: NodeJS.Signals; exitCode: number }];
}

/** A plain node request listener. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
