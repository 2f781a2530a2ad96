import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describeValue } from '../describe-value.js';
import { ErrorCodes } from '../errors.js';
import type { AnyServer, LameduckLogger, LameduckState, ShutdownReport } from '../types.js';
import { type ControlClient, controlClient } from './control.js';
import { restartError } from './errors.js';
import { addressMatches, type InheritedSocket, inheritedSockets, probeTcp } from './inherited.js';
import { formatAddress, isValidFdName } from './listen-fds.js';
import { systemdNotify } from './notify.js';

/**
 * Where `listen()` listens: a port, a socket name (`LISTEN_FDNAMES`, systemd's `FileDescriptorName=`,
 * the keeper's `--listen name=ADDR`), or an object with a TCP address, a unix socket path and/or a
 * name. A handed-over socket that matches is used; otherwise the address is bound as usual.
 */
export type ListenTarget =
  | number
  | string
  | { name?: string; port?: number; host?: string; path?: undefined }
  | { name?: string; path: string; port?: undefined; host?: undefined };

export interface ListenOptions {
  /**
   * Report ready on its own once every server given to `listen()` is listening (default true). Pass
   * false when start-up goes on after listening (warming a cache, connecting a consumer) and call
   * `ready()` when it is done: a keeper or a restarting parent only moves traffic over after ready.
   */
  autoReady?: boolean;
  /** Listen backlog for a socket bound here (an inherited socket keeps the one it was created with). */
  backlog?: number;
}

export interface ReadyOptions {
  /**
   * Also tell systemd (`systemd-notify --ready`, with `MAINPID=`) when `NOTIFY_SOCKET` is set and no
   * keeper runs this process: for `Type=notify` units. Default false.
   */
  systemd?: boolean;
}

export interface ListenedSocket {
  server: AnyServer;
  name: string;
}

/**
 * What a hand-over needs of its lifecycle: a narrow view, so that the restart modules depend on this
 * interface and not on the lifecycle's internals.
 */
export interface HandoverHost {
  readonly state: LameduckState;
  readonly inFlight: number;
  readonly connections: number;
  attach(server: AnyServer): void;
  shutdown(reason: string): Promise<ShutdownReport>;
  /** Another process accepts on the same listening sockets: the drain serves late requests. */
  serveLateRequests(): void;
  /**
   * Exit once this shutdown is over, when `exit` asks for it or, left undefined, when the lifecycle owns
   * the signals with `exit` on (through the same exit bookkeeping as after a signal).
   */
  exitAfter(shutdown: Promise<ShutdownReport>, exit: boolean | undefined): void;
  /** The lifecycle's logger. */
  readonly log: LameduckLogger;
}

/**
 * The application side of zero-downtime restart for one lifecycle: the sockets it listens on through
 * `listen()`, its ready report, the PID file, a self-upgrade in progress, and the signals bound to
 * `restart()`. The lifecycle owns one, made on first use.
 */
export class Handover {
  readonly host: HandoverHost;
  /** Servers given to listen() that are listening, with their socket names (handed on by restart()). */
  readonly listened: ListenedSocket[] = [];
  pidFile: string | undefined;
  systemd = false;
  restarting = false;
  /** Signal → the function that removes bindRestart()'s listener for it. */
  readonly signalBindings = new Map<string, () => void>();
  #pending = 0;
  #autoReady = true;
  #readyCalled = false;
  #ready: Promise<void> | undefined;

  constructor(host: HandoverHost) {
    this.host = host;
  }

  /** Resolves once the ready report went out (undefined before ready() ran). */
  get readyReported(): Promise<void> | undefined {
    return this.#ready;
  }

  /**
   * Listens on a handed-over socket when one matches `target` (from a keeper, a restarting parent or
   * systemd), otherwise binds it. Attaches the server to the lifecycle. See {@link Lameduck.listen}.
   */
  async listen(
    server: AnyServer,
    target: ListenTarget,
    options: ListenOptions = {},
  ): Promise<AddressInfo | string | null> {
    const t = normalize(target);
    if (options.autoReady === false) this.#autoReady = false;
    this.host.attach(server);
    const sockets = inheritedSockets();
    const client = controlClient();
    if (client) this.#wireControl(client);
    const inherited = findInherited(sockets, t);
    this.#pending++;
    try {
      this.listened.push({ server, name: await listenTo(server, t, inherited, sockets, client, options) });
    } finally {
      this.#pending--;
    }
    // A second listen() started right after this one (`await listen(a); await listen(b)`) runs before
    // the immediate fires, so ready waits for it too.
    setImmediate(() => {
      if (this.#pending === 0 && this.#autoReady && !this.#readyCalled) void this.ready();
    });
    return server.address();
  }

  /**
   * Reports that start-up is complete: to the keeper or the restarting parent over the control channel,
   * or (standalone) by writing the PID file and, when asked, telling systemd. Idempotent.
   * See {@link Lameduck.ready}.
   */
  ready(options: ReadyOptions = {}): Promise<void> {
    this.#readyCalled = true;
    if (options.systemd) this.systemd = true;
    if (this.host.state !== 'ready') return Promise.resolve();
    this.#ready ??= (async () => {
      inheritedSockets();
      const client = controlClient();
      if (client) {
        this.#wireControl(client);
        // The PID file and systemd's MAINPID follow at adoption, when the parent hands over.
        if (!client.adopted) {
          client.ready();
          return;
        }
      }
      if (this.pidFile !== undefined) writePidFile(this.pidFile);
      if (this.systemd) await systemdNotify(['--ready', `--pid=${process.pid}`]);
    })();
    return this.#ready;
  }

  /** Removes every process-level listener the restart modules installed for this lifecycle (dispose()). */
  dispose(): void {
    for (const remove of [...this.signalBindings.values()]) remove();
  }

  /** Wires the control channel to this lifecycle, once per process: lifeline, adoption, stats. */
  #wireControl(client: ControlClient): void {
    if (client.wiredTo !== undefined) return;
    client.wiredTo = this;
    const host = this.host;
    // Under a keeper the listening socket outlives this worker's drain. (A self-upgraded process is
    // adopted and later drains as a standalone one; its parent flips this itself before draining.)
    if (client.role === 'keeper') host.serveLateRequests();
    client.on('lost', () => {
      // The keeper (or the parent that was upgrading) is gone, however it died: behave as if it had sent
      // SIGTERM, so that a lifecycle owning signals drains and exits and anything else gets node's default.
      process.kill(process.pid, 'SIGTERM');
    });
    // The keeper fails the generation on its side too; this process says why in its own log, where the
    // operator of a worker started by hand looks first.
    client.on('incompatible', (incompatible) => {
      host.log.error({ theirs: incompatible.theirs, ours: incompatible.ours }, incompatible.message);
    });
    client.on('message', (message) => {
      if (message.type === 'stats') {
        client.send({
          type: 'stats',
          pid: process.pid,
          state: host.state,
          inFlight: host.inFlight,
          connections: host.connections,
        });
      } else if (message.type === 'adopt') {
        if (message.pidFile !== undefined) writePidFile(message.pidFile);
        if (message.notify) void systemdNotify(['--ready', `--pid=${process.pid}`]);
        client.close();
      }
    });
  }
}

interface NormalTarget {
  name: string | undefined;
  port: number | undefined;
  host: string | undefined;
  path: string | undefined;
}

function invalidTarget(target: unknown): Error {
  return restartError(
    ErrorCodes.LISTEN_TARGET_INVALID,
    `listen() takes a port (0–65535), a socket name, or { port, host } / { path } / { name }, got ${describeValue(target)}.`,
  );
}

function normalize(target: ListenTarget): NormalTarget {
  if (typeof target === 'number') target = { port: target };
  else if (typeof target === 'string') target = { name: target };
  if (typeof target !== 'object' || target === null) throw invalidTarget(target);
  const { name, port, host, path } = target as Record<string, unknown>;
  const okPort =
    port === undefined || (Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65_535);
  if (
    !okPort ||
    (name !== undefined && (typeof name !== 'string' || !isValidFdName(name))) ||
    (host !== undefined && (typeof host !== 'string' || host === '')) ||
    (path !== undefined && (typeof path !== 'string' || path === '' || port !== undefined)) ||
    (name === undefined && port === undefined && path === undefined)
  ) {
    throw invalidTarget(target);
  }
  return {
    name: name as string | undefined,
    port: port as number | undefined,
    host: host as string | undefined,
    path: path as string | undefined,
  };
}

function findInherited(sockets: InheritedSocket[], t: NormalTarget): InheritedSocket | undefined {
  const free = sockets.filter((s) => !s.claimed);
  if (t.name !== undefined) return free.find((s) => s.name === t.name);
  if (t.path !== undefined) return free.find((s) => s.name === t.path);
  if (t.port === undefined) return undefined;
  const port = t.port;
  return free.find((s) => {
    const bound = probeTcp(s);
    return bound !== null && addressMatches(bound, port, t.host);
  });
}

function describeTarget(t: NormalTarget): string {
  if (t.name !== undefined) return `the socket named "${t.name}"`;
  if (t.path !== undefined) return t.path;
  return formatAddress({ port: t.port ?? 0, host: t.host });
}

/** Writes the PID file atomically (a temporary file renamed over it), so a reader never sees it half-written. */
export function writePidFile(path: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, `${process.pid}\n`);
    fs.renameSync(tmp, path);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {}
  }
}

function listenOn(server: AnyServer, arg: unknown, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.removeListener('listening', onListening);
      reject(restartError(ErrorCodes.LISTEN_FAILED, `Could not listen on ${what}: ${error.message}`, error));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    try {
      (server.listen as (arg: unknown) => void)(arg);
    } catch (error) {
      server.removeListener('listening', onListening);
      server.removeListener('error', onError);
      reject(
        restartError(
          ErrorCodes.LISTEN_FAILED,
          `Could not listen on ${what}: ${(error as Error).message}`,
          error,
        ),
      );
    }
  });
}

/** Listens on the inherited socket, or binds the target; resolves with the socket's name. */
async function listenTo(
  server: AnyServer,
  t: NormalTarget,
  inherited: InheritedSocket | undefined,
  sockets: InheritedSocket[],
  client: ControlClient | undefined,
  options: ListenOptions,
): Promise<string> {
  if (inherited) {
    inherited.claimed = true;
    const handle = inherited.handle;
    // A TCP handle opened to read the address is the descriptor's owner: listen on it, not on a second
    // handle over the same descriptor.
    const arg = handle && inherited.tcp ? handle : { fd: inherited.fd };
    await listenOn(server, arg, `inherited descriptor ${inherited.fd} (${inherited.name})`);
    return inherited.name;
  }
  if (client && sockets.length > 0) {
    const offered = sockets.map((s) => `${s.name} (fd ${s.fd})`).join(', ');
    throw restartError(
      ErrorCodes.LISTEN_NOT_INHERITED,
      `listen() asked for ${describeTarget(t)}, which the ${client.role === 'keeper' ? 'keeper' : 'restarting parent'} did not hand over; it handed over ${offered}.`,
    );
  }
  if (t.port === undefined && t.path === undefined) {
    throw restartError(
      ErrorCodes.LISTEN_NOT_INHERITED,
      `listen() asked for ${describeTarget(t)}, but no socket by that name was handed to this process; give a port or path to bind when it runs on its own.`,
    );
  }
  const arg =
    t.path !== undefined
      ? { path: t.path, backlog: options.backlog }
      : { port: t.port, host: t.host, backlog: options.backlog };
  await listenOn(server, arg, describeTarget(t));
  return t.name ?? (t.path !== undefined && isValidFdName(t.path) ? t.path : 'unknown');
}
