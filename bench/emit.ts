// The children's side of the channel read by child.ts: one JSON object a line on stdout, stamped with
// the shared wall clock.
import { wallNow } from './clock.js';

/** Writes `{"event": ..., "at": <wall clock>, ...fields}` as one line on stdout. */
export function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, at: wallNow(), ...fields })}\n`);
}

/**
 * Answers each line on stdin with a clock stamp, for `clockOffset()`. Stdin rather than a signal: the
 * packages compared here take over most signals (close-with-grace shuts down on SIGUSR2 and SIGHUP).
 * Unref'd, so it keeps no process alive.
 */
export function answerClockChecks(): void {
  process.stdin.on('data', () => emit('clock'));
  (process.stdin as { unref?: () => void }).unref?.();
}
