/**
 * Response and upload bodies are a byte pattern that depends on the request id, so that a client can
 * check every byte it receives, incrementally, without holding a multi-megabyte body: a truncated,
 * reordered or misrouted body fails the check.
 */
const period = 251;
const cycle = Buffer.from(Array.from({ length: period + 65_536 }, (_, i) => (i % period) + 1));

function start(id: number, offset: number): number {
  return (((id * 7 + offset) % period) + period) % period;
}

/** `size` bytes of the pattern of request `id`. */
export function patternBody(id: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += 65_536) {
    const n = Math.min(65_536, size - at);
    const from = start(id, at);
    cycle.copy(out, at, from, from + n);
  }
  return out;
}

/** Length and sum of a body (what the upload route answers, and what its client expects). */
export function digest(body: Buffer): string {
  let sum = 0;
  for (const byte of body) sum = (sum + byte) >>> 0;
  return `${body.length}:${sum}`;
}

/** Checks a body arriving in chunks against the pattern of request `id`. */
export class PatternCheck {
  readonly id: number;
  readonly size: number;
  received = 0;
  mismatch = false;

  constructor(id: number, size: number) {
    this.id = id;
    this.size = size;
  }

  feed(chunk: Buffer): void {
    for (let at = 0; at < chunk.length; at += 65_536) {
      const part = chunk.subarray(at, at + 65_536);
      const from = start(this.id, this.received);
      if (this.received + part.length > this.size || !part.equals(cycle.subarray(from, from + part.length))) {
        this.mismatch = true;
      }
      this.received += part.length;
    }
  }

  get complete(): boolean {
    return !this.mismatch && this.received === this.size;
  }

  toString(): string {
    return `${this.received} of ${this.size} bytes${this.mismatch ? ', not the pattern' : ''}`;
  }
}
