// One clock for several processes. A drain tail is the time from the last byte a client received to the
// moment the server's shutdown resolved or its process exited: the client's side and the server's side
// run in different processes, so both stamp `performance.timeOrigin + performance.now()`: milliseconds
// since the epoch with a sub-millisecond fraction. timeOrigin is read from the system's wall clock when a
// process starts, and performance.now() runs on the monotonic clock from there, so stamps of two
// processes on one machine agree to within the error of that one read (microseconds), as long as the wall
// clock is not stepped during the run. `clockOffset()` measures the agreement instead of trusting it.
import type { Child } from './child.js';

/** Milliseconds since the epoch, sub-millisecond, comparable across the processes of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface ClockCheck {
  /** Child's clock minus ours, at the best round trip (ms). */
  offset: number;
  /** Half that round trip: the offset is known to within ± this (ms). */
  bound: number;
}

/**
 * NTP-style check against a child that answers a line on stdin with a `{"event":"clock","at":...}` line: of
 * several round trips, the shortest bounds the offset best. `(send + receive) / 2` is when the child
 * most likely stamped.
 */
export async function clockOffset(child: Child, rounds = 5): Promise<ClockCheck> {
  let best: ClockCheck = { offset: Number.NaN, bound: Number.POSITIVE_INFINITY };
  for (let i = 0; i < rounds; i++) {
    const sent = wallNow();
    const reply = child.message((m) => m.event === 'clock');
    child.process.stdin!.write('clock\n');
    const m = await reply;
    const received = m.readAt;
    const bound = (received - sent) / 2;
    if (bound < best.bound) best = { offset: (m.at as number) - (sent + received) / 2, bound };
  }
  return best;
}
