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
