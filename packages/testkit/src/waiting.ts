import type net from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { RawConnection } from './connection.js';
import { listen } from './listen.js';

/** A promise with its resolve function, for awaiting something a handler does. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves after `n` calls of the returned function. */
export function countdown(n: number): { tick: () => void; done: Promise<void> } {
  const d = deferred();
  let left = n;
  if (left <= 0) d.resolve();
  return {
    tick: () => {
      left--;
      if (left === 0) d.resolve();
    },
    done: d.promise,
  };
}

/**
 * Resolves once `check()` is true, testing it on every turn of the event loop: for a state that no
 * event announces (a counter inside the code under test), without a fixed sleep.
 */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await nextTurn();
}

/** Cleanups for the current test, run after it, last added first. */
export interface Cleanup {
  (...cleanups: (() => unknown)[]): void;
  /** {@link listen}; after the test the server's connections are dropped and its listener closed. */
  listen(server: net.Server): Promise<number>;
  /** {@link RawConnection.open}; the connection is destroyed after the test. */
  connect(target: number | string): Promise<RawConnection>;
}

/**
 * Registers an `afterEach` that runs, last added first, every cleanup the returned function was given
 * during the test (close a server, destroy a socket, kill a child).
 */
export function cleanupAfterEach(): Cleanup {
  const pending: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of pending.splice(0).reverse()) await cleanup();
  });
  const cleanup = (...cleanups: (() => unknown)[]) => {
    pending.push(...cleanups);
  };
  return Object.assign(cleanup, {
    async listen(server: net.Server) {
      cleanup(() => {
        // Not awaited: an HTTP/2 session or an upgraded socket would hold close() open.
        (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        if (server.listening) server.close();
      });
      return listen(server);
    },
    async connect(target: number | string) {
      const conn = await RawConnection.open(target);
      cleanup(() => conn.destroy());
      return conn;
    },
  });
}
