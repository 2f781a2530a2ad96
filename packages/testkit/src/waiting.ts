import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach } from 'vitest';

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

/**
 * Registers an `afterEach` that runs, last added first, every cleanup the returned function was given
 * during the test (close a server, destroy a socket, kill a child).
 */
export function cleanupAfterEach(): (...cleanups: (() => unknown)[]) => void {
  const pending: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of pending.splice(0).reverse()) await cleanup();
  });
  return (...cleanups) => {
    pending.push(...cleanups);
  };
}
