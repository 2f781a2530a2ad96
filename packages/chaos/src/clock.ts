/**
 * Milliseconds on CLOCK_MONOTONIC (`process.hrtime`), which every process of the machine shares: the
 * runner compares its clients' times with the server's log lines. `performance.timeOrigin + now()`
 * would not do: each process fixes its origin from the wall clock when it starts, and NTP slews the
 * wall clock of a long run away from the monotonic one.
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
