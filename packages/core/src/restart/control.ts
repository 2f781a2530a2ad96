import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { ErrorCodes } from '../errors.js';
import { restartError } from './errors.js';
import { listenEnv, shimCommand } from './listen-fds.js';

/**
 * The control channel between a parent (the keeper, or a process upgrading itself) and a child it
 * started: one extra socket pair at a descriptor named by `LAMEDUCK_CONTROL_FD`, newline-delimited JSON
 * both ways. The child says `hello` when it opens its end (from its first `listen()` or `ready()`) and
 * reports `ready` on it; the parent may `adopt` the child (self-upgrade: the child is on its own from
 * then on) or ask for `stats`. It doubles as a lifeline: the child sees end-of-file the moment its parent
 * dies, however it dies, and drains. A plain stdio pipe is used rather than node's IPC channel so that it
 * works for any command and never mixes with the application's own `process.send`.
 *
 * The keeper (`@lameduck/keeper`) and the application (`@lameduck/core`) are separate packages that an
 * app may install at different versions, so every message carries the protocol version as `v`; see
 * {@link CONTROL_PROTOCOL_VERSION}.
 */
export type ControlRole = 'keeper' | 'restart';

/**
 * The version of the control protocol this package speaks, carried by every message as `v`. It changes
 * only when a peer of the previous version would misread a message: a field that changes meaning, or a
 * message the peer must act on. A new optional field, or a message a peer may ignore, keeps it.
 *
 * A peer that receives a message of another version does not act on it: it answers with an
 * `unsupported` message (`{ type: 'unsupported', v, got }`, a shape that never changes, and which is
 * never answered) and reports an `incompatible` message naming both versions, so that a keeper and an
 * application of different releases fail with a clear line instead of a worker that never gets ready.
 */
export const CONTROL_PROTOCOL_VERSION = 1;

export type ParentMessage =
  | { type: 'adopt'; pidFile?: string | undefined; notify?: boolean | undefined }
  | { type: 'stats' };

export type ChildMessage =
  | { type: 'hello'; pid: number }
  | { type: 'ready'; pid: number }
  | { type: 'stats'; pid: number; state: string; inFlight: number; connections: number };

/**
 * The peer speaks another version of the protocol: it sent a message of version `theirs`, or answered
 * one of ours as unsupported. `theirs` is null for a message without a version.
 */
export interface Incompatible {
  type: 'incompatible';
  pid: number;
  theirs: number | null;
  ours: number;
  /** One sentence naming both versions and what to do, for logs and errors. */
  message: string;
}

/** What the parent hears from its child: the child's messages, or that it speaks another version. */
export type ChildEvent = ChildMessage | Incompatible;

export const CONTROL_FD_VAR = 'LAMEDUCK_CONTROL_FD';
export const CONTROL_ROLE_VAR = 'LAMEDUCK_CONTROL_ROLE';

/**
 * Splits a byte stream into JSON messages; malformed lines are skipped (the peer is lameduck's own code,
 * perhaps of another release: its version is checked per message).
 */
function onLines(stream: NodeJS.ReadableStream, fn: (message: Record<string, unknown>) => void): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl = buffer.indexOf('\n');
    while (nl !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof parsed === 'object' && parsed !== null) fn(parsed as Record<string, unknown>);
    }
  });
}

/** Writes one message, stamped with the protocol version. */
function write(socket: net.Socket, message: object): void {
  if (socket.writable && !socket.destroyed)
    socket.write(`${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, ...message })}\n`);
}

/** The version a received message carries: a whole number, or null when it has none. */
function versionOf(message: Record<string, unknown>): number | null {
  return Number.isSafeInteger(message.v) ? (message.v as number) : null;
}

/**
 * What one side of the channel says when the other speaks version `theirs`: both versions, and what to
 * do (`peer` names the other side: "The keeper", "The worker (pid 1234)", ...).
 */
export function incompatibleMessage(
  role: ControlRole,
  peer: string,
  theirs: number | null,
  self: string,
): string {
  const them =
    theirs === null ? 'a control protocol without a version' : `control protocol version ${theirs}`;
  const advice =
    role === 'keeper'
      ? 'install @lameduck/keeper and @lameduck/core at the same version.'
      : 'a self-upgrade cannot cross this change; restart the service once to move to the new release.';
  return `${peer} speaks ${them}, but ${self} speaks version ${CONTROL_PROTOCOL_VERSION}: ${advice}`;
}

/**
 * Sorts one received message: `ok` when it is of our version, `unsupported` when the peer answered one
 * of ours as unsupported (its own version in `theirs`), `foreign` when it is of another version.
 */
function classify(
  message: Record<string, unknown>,
): { kind: 'ok' } | { kind: 'unsupported' | 'foreign'; theirs: number | null } {
  if (message.type === 'unsupported') return { kind: 'unsupported', theirs: versionOf(message) };
  const v = versionOf(message);
  return v === CONTROL_PROTOCOL_VERSION ? { kind: 'ok' } : { kind: 'foreign', theirs: v };
}

/** The child's end of the channel. One per process: it is opened from the environment once. */
export class ControlClient extends EventEmitter<{
  message: [ParentMessage];
  lost: [];
  /** The parent speaks another protocol version: its message was answered `unsupported`, not acted on. */
  incompatible: [Incompatible];
}> {
  readonly role: ControlRole;
  /** The hand-over that answers this channel's messages: one per process, the first to listen(). */
  wiredTo: object | undefined;
  /** Set once the parent was found to speak another protocol version. */
  incompatible: Incompatible | undefined;
  readonly #socket: net.Socket;
  #adopted = false;
  #readySent = false;

  constructor(fd: number, role: ControlRole) {
    super();
    this.role = role;
    this.#socket = new net.Socket({ fd, readable: true, writable: true });
    // The channel must never keep the application alive on its own.
    this.#socket.unref();
    this.#socket.on('error', () => {});
    onLines(this.#socket, (m) => {
      const sorted = classify(m);
      if (sorted.kind !== 'ok') {
        // Never act on a message of another version, and never answer an `unsupported` (no ping-pong).
        if (sorted.kind === 'foreign') write(this.#socket, { type: 'unsupported', got: sorted.theirs });
        this.#incompatible(sorted.theirs);
      } else if (m.type === 'adopt') {
        this.#adopted = true;
        this.emit('message', {
          type: 'adopt',
          pidFile: typeof m.pidFile === 'string' ? m.pidFile : undefined,
          notify: m.notify === true,
        });
      } else if (m.type === 'stats') this.emit('message', { type: 'stats' });
    });
    this.#socket.on('close', () => {
      // An adopted child outlives the parent that started it; anyone else lost its supervisor.
      if (!this.#adopted) this.emit('lost');
    });
    // Tells the parent that this process opened its channel: a worker that dies before ready is then
    // known to have reached lameduck.listen(), and one that never says hello never did.
    write(this.#socket, { type: 'hello', pid: process.pid });
  }

  #incompatible(theirs: number | null): void {
    const parent = this.role === 'keeper' ? 'The keeper' : 'The parent process (a self-upgrade)';
    this.incompatible = {
      type: 'incompatible',
      pid: process.pid,
      theirs,
      ours: CONTROL_PROTOCOL_VERSION,
      message: incompatibleMessage(this.role, parent, theirs, `this process (pid ${process.pid})`),
    };
    this.emit('incompatible', this.incompatible);
  }

  get adopted(): boolean {
    return this.#adopted;
  }

  get readySent(): boolean {
    return this.#readySent;
  }

  ready(): void {
    if (this.#readySent) return;
    this.#readySent = true;
    write(this.#socket, { type: 'ready', pid: process.pid });
  }

  send(message: ChildMessage): void {
    write(this.#socket, message);
  }

  /** Leaves the channel (after adoption): the parent sees end-of-file. */
  close(): void {
    this.#socket.end();
  }
}

interface ControlSlot {
  client: ControlClient | undefined;
  opened: boolean;
}

const slotKey = Symbol.for('lameduck.control.v1');

/**
 * The process's control channel, opened (and its variables cleared) on first use; undefined when the
 * process was not started by a keeper or by a restarting parent. Stored on `globalThis` under a
 * registered symbol: the descriptor belongs to the process, whichever copy of this package opens it.
 */
export function controlClient(env: NodeJS.ProcessEnv = process.env): ControlClient | undefined {
  const g = globalThis as unknown as Record<symbol, ControlSlot | undefined>;
  g[slotKey] ??= { client: undefined, opened: false };
  const slot = g[slotKey];
  if (slot.opened) return slot.client;
  const fdVar = env[CONTROL_FD_VAR];
  const roleVar = env[CONTROL_ROLE_VAR];
  if (fdVar === undefined) {
    slot.opened = true;
    return undefined;
  }
  if (!/^[0-9]{1,5}$/.test(fdVar) || Number(fdVar) < 3 || (roleVar !== 'keeper' && roleVar !== 'restart')) {
    throw restartError(
      ErrorCodes.LISTEN_ENV_INVALID,
      `${CONTROL_FD_VAR} must be a descriptor number of 3 or more and ${CONTROL_ROLE_VAR} "keeper" or "restart", got ${JSON.stringify(fdVar)} and ${JSON.stringify(roleVar)}.`,
    );
  }
  const fd = Number(fdVar);
  let isSocket = false;
  try {
    isSocket = fs.fstatSync(fd).isSocket();
  } catch {}
  if (!isSocket) {
    throw restartError(
      ErrorCodes.LISTEN_FD_INVALID,
      `${CONTROL_FD_VAR} names descriptor ${fd}, which is not an open socket in this process.`,
    );
  }
  delete env[CONTROL_FD_VAR];
  delete env[CONTROL_ROLE_VAR];
  slot.opened = true;
  slot.client = new ControlClient(fd, roleVar);
  return slot.client;
}

/** The parent's end: messages from one child. */
export interface ChildChannel {
  child: ChildProcess;
  /**
   * Listens to the child's messages, and to `incompatible` when it speaks another protocol version;
   * returns the function that stops listening.
   */
  on(fn: (message: ChildEvent) => void): () => void;
  send(message: ParentMessage): void;
}

export interface SpawnChildOptions {
  command: readonly string[];
  /** Listening descriptors, handed over from 3 in this order. */
  fds: readonly number[];
  names: readonly string[];
  role: ControlRole;
  env: NodeJS.ProcessEnv;
  cwd?: string | undefined;
}

/**
 * Starts a child with the sockets at 3.. (systemd protocol, `LISTEN_PID` set through the shim) and the
 * control channel right after them. The child gets its own process group (`detached`), so that a
 * Ctrl-C meant for the parent does not reach it too: the parent decides when and how it drains.
 */
export function spawnChild(options: SpawnChildOptions): ChildChannel {
  const env: NodeJS.ProcessEnv = { ...options.env };
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (options.fds.length > 0) Object.assign(env, listenEnv(options.names));
  const controlFd = 3 + options.fds.length;
  env[CONTROL_FD_VAR] = String(controlFd);
  env[CONTROL_ROLE_VAR] = options.role;
  const [file, args] =
    options.fds.length > 0 ? shimCommand(options.command) : [options.command[0]!, options.command.slice(1)];
  const child = spawn(file, args, {
    stdio: ['ignore', 'inherit', 'inherit', ...options.fds, 'pipe'],
    env,
    cwd: options.cwd,
    detached: true,
  });
  const socket = child.stdio[controlFd] as net.Socket | null;
  const listeners: ((message: ChildEvent) => void)[] = [];
  const emit = (message: ChildEvent) => {
    for (const fn of [...listeners]) fn(message);
  };
  if (socket) {
    socket.on('error', () => {});
    onLines(socket, (m) => {
      const pid = typeof m.pid === 'number' ? m.pid : (child.pid ?? 0);
      const sorted = classify(m);
      if (sorted.kind !== 'ok') {
        if (sorted.kind === 'foreign') write(socket, { type: 'unsupported', got: sorted.theirs });
        const self = options.role === 'keeper' ? 'this keeper' : `this process (pid ${process.pid})`;
        emit({
          type: 'incompatible',
          pid,
          theirs: sorted.theirs,
          ours: CONTROL_PROTOCOL_VERSION,
          message: incompatibleMessage(
            options.role,
            `${options.role === 'keeper' ? 'The worker' : 'The new process'} (pid ${pid})`,
            sorted.theirs,
            self,
          ),
        });
        return;
      }
      if (m.type === 'hello' || m.type === 'ready') emit({ type: m.type, pid });
      else if (m.type === 'stats') {
        emit({
          type: 'stats',
          pid,
          state: String(m.state),
          inFlight: Number(m.inFlight) || 0,
          connections: Number(m.connections) || 0,
        });
      }
    });
  }
  return {
    child,
    on: (fn) => {
      listeners.push(fn);
      return () => {
        const i = listeners.indexOf(fn);
        if (i !== -1) listeners.splice(i, 1);
      };
    },
    send: (message) => {
      if (socket) write(socket, message);
    },
  };
}

/**
 * Signals a child. SIGKILL goes to its whole process group (it was started `detached`) so that nothing
 * it started outlives it; any other signal goes to the child alone, which decides what its own children get.
 */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(signal === 'SIGKILL' ? -child.pid : child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}
