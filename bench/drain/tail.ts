// The drain tail: from the last byte a client received to the moment the server's shutdown resolved and
// to the moment its process exited. The server is a child (bench/compare/server.ts, any contender); the
// clients are in this process. "Resolved" is stamped by the child on the shared wall clock (see
// clock.ts) and corrected by the offset measured against it; the exit is seen here.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, spawnTs } from '../child.js';
import { type ClockCheck, clockOffset, wallNow } from '../clock.js';
import type { Contender } from '../compare/contenders.js';

const serverFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../compare/server.ts');

export interface TailRun {
  /** Last byte → the package's shutdown resolved (ms); NaN when it had not resolved by the cap. */
  resolvedMs: number;
  /** Last byte → the process exited (ms); with `capped`, the time at which it was killed instead. */
  exitMs: number;
  /** Last byte → node began to exit (its 'exit' event); NaN when a signal ended it (terminus does). */
  exitingMs: number;
  /** The process had not exited `capMs` after SIGTERM and was killed. */
  capped: boolean;
  /** Responses that arrived whole, of those sent. */
  completed: number;
  sent: number;
  /** Of those, how many said `Connection: close`. */
  withClose: number;
  clock: ClockCheck;
}

export interface TailOptions {
  /** Kill the server this long after SIGTERM (the benchmark stays bounded). */
  capMs: number;
}

interface Response {
  at: number;
  ok: boolean;
  close: boolean;
}

function get(agent: http.Agent, port: number, urlPath: string): Promise<Response> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            at: wallNow(),
            ok: res.complete && res.statusCode === 200,
            close: res.headers.connection === 'close',
          }),
        );
        res.on('error', () => resolve({ at: wallNow(), ok: false, close: false }));
      })
      .on('error', () => resolve({ at: wallNow(), ok: false, close: false }));
  });
}

/** Requests a server answers before a tail is measured (see warmUp). */
const WARM_UP_REQUESTS = 50;

/**
 * Serves a few requests, each on a connection of its own that closes after it, before the measured ones.
 * A fresh process runs its first requests through code not compiled yet: its first response went out
 * about 2.5 ms before node finished it (and armed the keep-alive timer that `idleGrace` counts from), a
 * cost of the process's first milliseconds and not of a drain, which follows a server's working life.
 */
async function warmUp(port: number): Promise<void> {
  for (let i = 0; i < WARM_UP_REQUESTS; i++) {
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          res.socket.once('close', () => resolve());
        })
        .on('error', reject);
    });
  }
}

async function startServer(
  contender: Contender,
): Promise<{ server: Child; port: number; clock: ClockCheck }> {
  const server = spawnTs(serverFile, [contender]);
  const { port } = (await server.message((m) => m.event === 'listening')) as unknown as { port: number };
  await warmUp(port);
  return { server, port, clock: await clockOffset(server) };
}

/** Waits for the exit (or kills at the cap) and measures both ends of the tail from `lastByte`. */
async function finish(
  server: Child,
  clock: ClockCheck,
  signalAt: number,
  lastByte: number,
  capMs: number,
): Promise<Pick<TailRun, 'resolvedMs' | 'exitingMs' | 'exitMs' | 'capped'>> {
  let capped = false;
  const cap = setTimeout(
    () => {
      capped = true;
      server.kill();
    },
    Math.max(0, signalAt + capMs - wallNow()),
  );
  const exit = await server.exited;
  clearTimeout(cap);
  const stamp = async (event: string) => {
    const m = await server.message((m) => m.event === event, 1_000).catch(() => undefined);
    return m ? (m.at as number) - clock.offset - lastByte : Number.NaN;
  };
  return {
    resolvedMs: await stamp('resolved'),
    exitingMs: await stamp('exiting'),
    exitMs: exit.at - lastByte,
    capped,
  };
}

/**
 * `count` requests in flight (each takes `ms`) when SIGTERM arrives; the tail starts at the last byte
 * of the last of them. A server that drains well answers them with `Connection: close` and is done
 * with their sockets the moment they are out.
 */
export async function inFlightTail(
  contender: Contender,
  options: TailOptions & { count: number; ms: number },
): Promise<TailRun> {
  const { server, port, clock } = await startServer(contender);
  const agent = new http.Agent({ keepAlive: true });
  try {
    let arrived = 0;
    const allArrived = server.message((m) => m.event === 'request' && ++arrived === options.count);
    const responses = Array.from({ length: options.count }, () => get(agent, port, `/slow?ms=${options.ms}`));
    await allArrived;
    const signalAt = wallNow();
    server.process.kill('SIGTERM');
    const done = await Promise.all(responses);
    const lastByte = Math.max(...done.map((r) => r.at));
    return {
      ...(await finish(server, clock, signalAt, lastByte, options.capMs)),
      completed: done.filter((r) => r.ok).length,
      sent: options.count,
      withClose: done.filter((r) => r.close).length,
      clock,
    };
  } finally {
    agent.destroy();
    server.kill();
  }
}

/**
 * One keep-alive response, then SIGTERM at once: the socket's last response went out keep-alive, so
 * the client may still reuse it. lameduck closes it once it has been idle for `idleGrace`.
 */
export async function keepAliveTail(contender: Contender, options: TailOptions): Promise<TailRun> {
  const { server, port, clock } = await startServer(contender);
  const agent = new http.Agent({ keepAlive: true });
  try {
    const response = await get(agent, port, '/');
    const signalAt = wallNow();
    server.process.kill('SIGTERM');
    return {
      ...(await finish(server, clock, signalAt, response.at, options.capMs)),
      completed: response.ok ? 1 : 0,
      sent: 1,
      withClose: response.close ? 1 : 0,
      clock,
    };
  } finally {
    agent.destroy();
    server.kill();
  }
}
