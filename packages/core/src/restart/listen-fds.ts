import fs from 'node:fs';
import net from 'node:net';
import { ErrorCodes } from '../errors.js';
import { restartError } from './errors.js';

/**
 * The systemd socket-passing protocol (sd_listen_fds(3)): descriptors start at 3, `LISTEN_FDS` says how
 * many, `LISTEN_FDNAMES` names them (colon-separated), and `LISTEN_PID` must equal the receiving
 * process's PID so that a grandchild that inherited the environment does not take them for its own.
 * https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html
 */
export const SD_LISTEN_FDS_START = 3;

/** Upper bound on `LISTEN_FDS`: a larger value is a corrupted variable, not a real hand-over. */
const MAX_FDS = 1024;

export interface InheritedFd {
  fd: number;
  /** The `LISTEN_FDNAMES` entry, or `unknown` (systemd's name for an unnamed descriptor). */
  name: string;
}

/** A listening address: TCP (`host` undefined means every interface) or a unix socket path. */
export type Address = { port: number; host?: string | undefined } | { path: string };

/**
 * Reads the systemd variables of `env` for the process `pid`. Returns no descriptors when they are not
 * meant for this process (no `LISTEN_FDS`, no `LISTEN_PID`, or another PID, as sd_listen_fds does);
 * throws a `LAMEDUCK_ERR_LISTEN_ENV_INVALID` error when a variable is malformed.
 */
export function parseListenEnv(env: NodeJS.ProcessEnv, pid: number): InheritedFd[] {
  const fdsVar = env.LISTEN_FDS;
  const pidVar = env.LISTEN_PID;
  if (fdsVar === undefined || pidVar === undefined) return [];
  if (!/^[1-9][0-9]{0,9}$/.test(pidVar)) {
    throw restartError(
      ErrorCodes.LISTEN_ENV_INVALID,
      `LISTEN_PID must be a process id (a positive whole number), got ${JSON.stringify(pidVar)}.`,
    );
  }
  if (!/^[0-9]{1,5}$/.test(fdsVar) || Number(fdsVar) > MAX_FDS) {
    throw restartError(
      ErrorCodes.LISTEN_ENV_INVALID,
      `LISTEN_FDS must be a whole number of descriptors from 0 to ${MAX_FDS}, got ${JSON.stringify(fdsVar)}.`,
    );
  }
  if (Number(pidVar) !== pid) return [];
  const count = Number(fdsVar);
  const namesVar = env.LISTEN_FDNAMES;
  const names = namesVar === undefined || namesVar === '' ? [] : namesVar.split(':');
  if (namesVar !== undefined && namesVar !== '' && names.length !== count) {
    throw restartError(
      ErrorCodes.LISTEN_ENV_INVALID,
      `LISTEN_FDNAMES must hold one colon-separated name per descriptor (${count}), got ${names.length} in ${JSON.stringify(namesVar)}.`,
    );
  }
  const fds: InheritedFd[] = [];
  for (let i = 0; i < count; i++) {
    const fd = SD_LISTEN_FDS_START + i;
    let isSocket = false;
    try {
      isSocket = fs.fstatSync(fd).isSocket();
    } catch (cause) {
      throw restartError(
        ErrorCodes.LISTEN_FD_INVALID,
        `LISTEN_FDS says descriptor ${fd} was handed over, but it is not open in this process.`,
        cause,
      );
    }
    if (!isSocket) {
      throw restartError(
        ErrorCodes.LISTEN_FD_INVALID,
        `LISTEN_FDS says descriptor ${fd} was handed over, but it is not a socket.`,
      );
    }
    fds.push({ fd, name: names[i] || 'unknown' });
  }
  return fds;
}

/** Removes the variables so that child processes do not misread them (sd_listen_fds' unset_environment). */
export function clearListenEnv(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
}

/** The variables for a child that gets `names.length` descriptors from 3; `LISTEN_PID` is set by the shim. */
export function listenEnv(names: readonly string[]): Record<string, string> {
  return { LISTEN_FDS: String(names.length), LISTEN_FDNAMES: names.join(':') };
}

/** A valid `LISTEN_FDNAMES` entry: printable ASCII without ':' (systemd's fdname_is_valid), 1–255 chars. */
export function isValidFdName(name: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]{1,255}$/.test(name);
}

/**
 * Runs `command` through `/bin/sh`, which sets `LISTEN_PID` to its own PID and then `exec`s the command:
 * exec keeps the PID, so the variable equals the PID of the process that reads it, exactly as the
 * protocol requires (systemd itself sets it between fork and exec, which node cannot do).
 */
export function shimCommand(command: readonly string[]): [string, string[]] {
  return ['/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'lameduck-shim', ...command]];
}

/** Parses `8080`, `:8080`, `127.0.0.1:8080`, `[::1]:8080`, `/run/app.sock` or `unix:app.sock`. */
export function parseAddress(spec: string): Address | undefined {
  if (spec.startsWith('unix:')) return spec.length > 5 ? { path: spec.slice(5) } : undefined;
  if (spec.startsWith('/') || spec.startsWith('./')) return { path: spec };
  const m =
    /^(?:\[([0-9a-fA-F:.%\w]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(spec) ?? /^()()([0-9]{1,5})$/.exec(spec);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  const host = m[1] || m[2] || undefined;
  return host === undefined ? { port } : { port, host };
}

/** The inverse of parseAddress, for logs and status. */
export function formatAddress(address: Address): string {
  if ('path' in address) return address.path;
  if (address.host === undefined) return `:${address.port}`;
  return net.isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
