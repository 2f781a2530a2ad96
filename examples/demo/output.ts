// What the demo prints. On a terminal each phase has a live line that rewrites itself (phase, requests
// in flight, sockets open, served so far) and stays as the phase's record when the phase ends; piped or
// in CI, the same events come as plain lines, one per event, with no control characters.

export interface PhaseState {
  inFlight: number;
  socketsOpen: number;
  served: number;
}

export class Output {
  readonly tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #phase: { name: string; since: number; state: (() => PhaseState) | undefined } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.tty = out.isTTY === true && process.env.TERM !== 'dumb';
  }

  /** One line of output (on a terminal, above the live line). */
  line(text = ''): void {
    if (this.#phase !== undefined && this.tty) this.#out.write(`\r\x1b[2K${text}\n${this.#live()}`);
    else this.#out.write(`${text}\n`);
  }

  /** A line from a process of the demo, prefixed with who said it. */
  from(who: string, text: string): void {
    this.line(`  ${who.padEnd(7)}│ ${text}`);
  }

  /** Ends the current phase, if any, and starts the next one; `state` is the load's, when it runs. */
  phase(name: string, state?: () => PhaseState): void {
    this.endPhase();
    this.#phase = { name, since: performance.now(), state };
    if (this.tty) {
      this.#out.write(this.#live());
      this.#timer = setInterval(() => this.#out.write(`\r\x1b[2K${this.#live()}`), 100);
    } else {
      this.#out.write(`  phase  │ ${name}\n`);
    }
  }

  /** Ends the current phase: its last state stays on screen (on a terminal) or is printed once. */
  endPhase(): void {
    if (this.#phase === undefined) return;
    clearInterval(this.#timer);
    if (this.tty) this.#out.write(`\r\x1b[2K${this.#live()}\n`);
    else this.#out.write(`${this.#text()}\n`);
    this.#phase = undefined;
  }

  #seconds(): string {
    return ((performance.now() - (this.#phase?.since ?? 0)) / 1_000).toFixed(1);
  }

  #text(): string {
    const p = this.#phase;
    if (p === undefined) return '';
    const s = p.state?.();
    if (s === undefined) return `  phase  │ ${p.name}: ${this.#seconds()} s`;
    return (
      `  phase  │ ${p.name}: ${this.#seconds()} s; then ${s.inFlight} in flight, ${s.socketsOpen} sockets open, ` +
      `${s.served} served so far`
    );
  }

  #live(): string {
    const p = this.#phase;
    if (p === undefined) return '';
    const s = p.state?.();
    const stats =
      ` · ${this.#seconds()} s` +
      (s === undefined
        ? ''
        : ` · in flight ${s.inFlight} · sockets open ${s.socketsOpen} · served ${s.served}`);
    // A line wider than the terminal wraps, and \r would then rewrite only its last row: the phase's
    // name gives way first.
    const room = (this.#out.columns || 80) - 1 - '  ▸ '.length - stats.length;
    const name = p.name.length <= room ? p.name : `${p.name.slice(0, Math.max(0, room - 1))}…`;
    return `  ▸ ${name}${stats}`.slice(0, (this.#out.columns || 80) - 1);
  }
}
