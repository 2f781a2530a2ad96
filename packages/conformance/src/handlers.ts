import { EventEmitter, once } from 'node:events';
import { Readable } from 'node:stream';
import type { ConformanceHandlers } from './types.js';

/** The stream body: 64 chunks of 1 KiB, the first sent before the suite releases the rest. */
export const streamChunks = Array.from(
  { length: 64 },
  (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(1020)}`,
);

/**
 * Handlers the suite drives: slow requests and streams wait for `release()`, and each start is an
 * event the suite awaits.
 */
export class Controls {
  readonly #events = new EventEmitter<{ slow: [AbortSignal]; stream: []; fast: [] }>();
  readonly #released: Promise<void>;
  #release!: () => void;
  /** When true, a slow handler ignores its AbortSignal and never answers (to reach the forced phase). */
  ignoreAbort = false;
  fastCalls = 0;
  readonly signals: AbortSignal[] = [];

  constructor() {
    this.#released = new Promise((resolve) => {
      this.#release = resolve;
    });
  }

  release(): void {
    this.#release();
  }

  /** Resolves with the request's AbortSignal when the next slow handler starts. */
  async slowStarted(): Promise<AbortSignal> {
    const [signal] = await once(this.#events, 'slow');
    return signal;
  }

  async streamStarted(): Promise<void> {
    await once(this.#events, 'stream');
  }

  readonly handlers: ConformanceHandlers = {
    fast: () => {
      this.fastCalls++;
      this.#events.emit('fast');
      return 'fast';
    },
    slow: async (signal) => {
      this.signals.push(signal);
      this.#events.emit('slow', signal);
      const aborted = new Promise<never>((_, reject) => {
        if (this.ignoreAbort) return;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      await Promise.race([this.#released, aborted]);
      return 'slow';
    },
    stream: () => {
      const released = this.#released;
      const emit = () => this.#events.emit('stream');
      return Readable.from(
        (async function* () {
          yield streamChunks[0] as string;
          emit();
          await released;
          yield* streamChunks.slice(1);
        })(),
        { objectMode: false },
      );
    },
  };
}
