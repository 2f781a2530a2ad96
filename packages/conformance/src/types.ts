import type { Readable } from 'node:stream';
import type { HandleOptions, Lameduck, LameduckOptions } from '@lameduck/core';

/**
 * What the routes of a conformance app do. The factory wires them into its framework the idiomatic
 * way; the suite controls when they finish.
 */
export interface ConformanceHandlers {
  /** `GET /fast`: answer this body at once. */
  fast(): string;
  /**
   * `GET /slow`: answer the resolved body. `signal` is the adapter's per-request AbortSignal
   * (`lameduck.signalFor(req)`); the promise rejects when the suite lets the abort through.
   */
  slow(signal: AbortSignal): Promise<string>;
  /** `GET /stream`: pipe this stream as a `text/plain` body. */
  stream(): Readable;
}

export interface StartOptions {
  /**
   * `embedded`: inside the test process: attach the server explicitly (or let the framework do it)
   * and keep `options` as given (the suite passes `signals: false`, `exit: false`, `logger: false`).
   * `process`: the zero-config way a user writes it (`app.use(graceful(options))`, `app.listen()`),
   * run in a child process that receives real signals.
   */
  mode: 'embedded' | 'process';
  /** Core options for the adapter. */
  options: LameduckOptions;
  /**
   * Give the adapter this lifecycle as its `lameduck` option instead of `options` (which are then
   * empty). Only for a factory with `buildAdapter`.
   */
  lameduck?: Lameduck;
  /** The health routes, through the adapter's own options; `false` for none. Default: `/readyz` and `/livez`. */
  health?: HandleOptions;
  handlers: ConformanceHandlers;
  /** Serve HTTPS with this key and certificate (embedded mode only). */
  tls?: { key: string; cert: string };
}

export interface StartedServer {
  /** `http://127.0.0.1:<port>` or `https://…`. */
  url: string;
  lameduck: Lameduck;
  /** Closes whatever is left (server, sockets) and disposes a lifecycle the factory created. */
  close(): Promise<void>;
  /**
   * The framework's own way to stop (`fastify.close()`), which must run the same drain, with the same
   * client-visible answers and report, as `lameduck.shutdown()`. Leave it out when the framework has
   * none. The suite checks it as users meet it: build the app with the framework's default options
   * (only `https` for `tls`), never with one that makes the adapter's job easier.
   */
  nativeClose?: () => Promise<void>;
}

/**
 * Starts a real server with one adapter on 127.0.0.1, port 0, serving `/fast`, `/slow`, `/stream`,
 * and the health routes (`/readyz` and `/livez` unless told otherwise) through the adapter's own options.
 */
export interface ConformanceFactory {
  /** Shown in test names, e.g. `express 5`. */
  name: string;
  /**
   * Where the child process finds this factory: the module URL (`import.meta.url` of the factory
   * file) and the export name.
   */
  module: { url: string; exportName: string };
  start(options: StartOptions): Promise<StartedServer>;
  /**
   * For an adapter: builds it the way a user does (`graceful(options)`, `register(plugin, options)`),
   * with `options` passed on unchecked (the suite gives bad ones on purpose) and no server, and
   * resolves with its lifecycle; throws or rejects with the adapter's error. The suite's options block
   * checks through it that every adapter validates its options alike. Leave it out for the core alone.
   */
  buildAdapter?(options: unknown): Promise<Lameduck>;
}
