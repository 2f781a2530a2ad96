/** The first restart of a slot waits this long; each failure in a row doubles it, up to BACKOFF_MAX. */
const BACKOFF_MIN = 100;
const BACKOFF_MAX = 10_000;
/** A slot whose replacements fail this many times in a row is given up. */
const MAX_FAILURES = 5;
/** A worker that served this long was healthy: its crash starts the count over. */
const HEALTHY_MS = 10_000;

/**
 * When a worker of a serving generation that died is started again, per slot: after 100 ms, doubling
 * with each failure in a row to 10 s, and never again after five failures in a row (a crash loop that
 * would otherwise spin the CPU and flood the logs). A worker that served for 10 s before it died was
 * healthy, so its death starts the count over; a replacement that reports ready clears it.
 */
export class SlotBackoff {
  readonly #failures: number[];

  constructor(slots: number) {
    this.#failures = new Array<number>(slots).fill(0);
  }

  /** Failures in a row of a slot (what `lameduck status` shows as restarts). */
  failures(slot: number): number {
    return this.#failures[slot] ?? 0;
  }

  /** A replacement in `slot` reported ready: the slot starts over. */
  succeeded(slot: number): void {
    this.#failures[slot] = 0;
  }

  /**
   * The worker in `slot` failed: it died (`readyAt` when it had been ready), or a replacement was not
   * ready in time (`readyAt` undefined). Resolves the wait before its replacement, or `undefined` when
   * the slot is given up.
   */
  failed(
    slot: number,
    readyAt: number | undefined,
    now = Date.now(),
  ): { failures: number; delayMs?: number } {
    if (readyAt !== undefined && now - readyAt >= HEALTHY_MS) this.#failures[slot] = 0;
    const failures = this.failures(slot) + 1;
    this.#failures[slot] = failures;
    if (failures > MAX_FAILURES) return { failures };
    return { failures, delayMs: Math.min(BACKOFF_MIN * 2 ** (failures - 1), BACKOFF_MAX) };
  }
}
