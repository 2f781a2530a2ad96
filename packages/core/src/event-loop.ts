/**
 * Runs `fn` in the check phase after the event loop has polled for I/O at least once from now.
 *
 * Timers, signal handlers and promise continuations can run before the poll phase of their turn, or
 * right after it; one immediate alone would run in the check phase that follows, which may come with no
 * poll in between. Two hops make sure a poll passed: decisions taken here see every connection the
 * kernel queued and every byte that arrived meanwhile. Both immediates are ref'd on purpose: they keep
 * those polls non-blocking (an unref'd immediate lets the poll phase block on unrelated I/O), and each
 * lives for one turn of the loop.
 */
export function afterNextPoll(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}

/**
 * afterNextPoll() for many items at once: items added in the same turn share one pair of immediates
 * (a drain that starts with 10 000 idle sockets schedules two, not 20 000). A batch takes items only
 * until its first hop runs; an item added after that starts the next batch, so that every item still
 * waits for a poll that began after it was added.
 */
export class PollBatch<T> {
  #open: Set<T> | undefined;
  readonly #fn: (item: T) => void;

  constructor(fn: (item: T) => void) {
    this.#fn = fn;
  }

  add(item: T): void {
    let batch = this.#open;
    if (batch === undefined) {
      const next = new Set<T>();
      this.#open = batch = next;
      setImmediate(() => {
        if (this.#open === next) this.#open = undefined;
        setImmediate(() => {
          for (const it of next) this.#fn(it);
        });
      });
    }
    batch.add(item);
  }

  /** Forgets the open batch (its items are still visited; the callback decides what is stale). */
  clear(): void {
    this.#open = undefined;
  }
}
