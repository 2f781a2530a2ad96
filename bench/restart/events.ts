// The events file that every process of a restart run appends to (app.ts), read as it grows: a watch on
// the file wakes the reader, which reads what was appended since the last read.
import fs from 'node:fs';

export interface AppEvent {
  event: 'listening' | 'draining' | 'exiting';
  pid: number;
  /** Wall clock (clock.ts). */
  at: number;
}

export class EventLog {
  readonly events: AppEvent[] = [];
  #offset = 0;
  #partial = '';
  #waiters: { match: (e: AppEvent) => boolean; resolve: (e: AppEvent) => void }[] = [];
  readonly #watcher: fs.FSWatcher;

  constructor(readonly file: string) {
    fs.writeFileSync(file, '');
    this.#watcher = fs.watch(file, () => this.#read());
  }

  /** The first event (already seen or still to come) for which `match` holds. */
  wait(match: (e: AppEvent) => boolean, what: string, timeoutMs = 30_000): Promise<AppEvent> {
    this.#read();
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const done = (e: AppEvent) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }

  /** PIDs that reported listening, in order. */
  listening(): number[] {
    this.#read();
    return this.events.filter((e) => e.event === 'listening').map((e) => e.pid);
  }

  close(): void {
    this.#watcher.close();
  }

  #read(): void {
    const size = fs.statSync(this.file).size;
    if (size <= this.#offset) return;
    const fd = fs.openSync(this.file, 'r');
    const buffer = Buffer.alloc(size - this.#offset);
    fs.readSync(fd, buffer, 0, buffer.length, this.#offset);
    fs.closeSync(fd);
    this.#offset = size;
    const lines = (this.#partial + buffer.toString()).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      const e = JSON.parse(line) as AppEvent;
      this.events.push(e);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(e)) return true;
        w.resolve(e);
        return false;
      });
    }
  }
}
