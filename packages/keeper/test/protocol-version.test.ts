// A keeper and an application may run different releases (@lameduck/keeper and @lameduck/core are
// installed separately). A worker that speaks another control-protocol version, or that dies after
// opening its channel but before ready, is diagnosed in the keeper's log and exit reason.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, collectPids, freePort, killAfterEach, nodeArgs, Proc, tmpDir } from './helpers.js';

const seenPids = killAfterEach();

/** A worker written against the raw channel: sends `lines` on it, then `then` (stay or exit 1). */
function rawWorker(lines: readonly object[], then: 'stay' | 'exit'): string[] {
  const script = `
const net = require('node:net');
const s = new net.Socket({ fd: Number(process.env.LAMEDUCK_CONTROL_FD), readable: true, writable: true });
s.write(${JSON.stringify(lines.map((l) => `${JSON.stringify(l)}\n`).join(''))}, () => {
  ${then === 'exit' ? 'process.exit(1);' : ''}
});
`;
  return [process.execPath, '-e', script];
}

async function keeper(worker: readonly string[]): Promise<Proc> {
  const port = await freePort();
  const control = path.join(tmpDir(), 'c.sock');
  // The ready timeout is long: each case is decided by what the worker says, not by a timer.
  const args = ['run', '--listen', `127.0.0.1:${port}`, '--control', control, '--ready-timeout', '100s'];
  const p = new Proc(process.execPath, [...nodeArgs, binPath, ...args, '--', ...worker], process.env);
  collectPids(p, seenPids);
  return p;
}

describe('the keeper and a worker of another release', () => {
  it('a worker speaking another protocol version fails the generation at once, naming both versions', async () => {
    const k = await keeper(
      rawWorker(
        [
          { v: 2, type: 'hello' },
          { v: 2, type: 'ready' },
        ],
        'stay',
      ),
    );
    expect((await k.exited).code).toBe(4);
    const mismatch = await k.msg('worker speaks another control protocol version');
    expect(mismatch).toMatchObject({ level: 'error', gen: 1, slot: 0, theirs: 2, ours: 1 });
    expect(String(mismatch.error)).toMatch(
      /^The worker \(pid \d+\) speaks control protocol version 2, but this keeper speaks version 1: install @lameduck\/keeper and @lameduck\/core at the same version\.$/,
    );
    const failed = await k.msg('first generation never became ready');
    expect(String(failed.reason)).toMatch(
      /worker 0 \(pid \d+\) of generation 1: The worker .* version 2, but this keeper speaks version 1/,
    );
  });

  it('a worker that dies after opening its channel (hello) is told apart from one that never did', async () => {
    const k = await keeper(rawWorker([{ v: 1, type: 'hello' }], 'exit'));
    expect((await k.exited).code).toBe(4);
    const failed = await k.msg('first generation never became ready');
    expect(String(failed.reason)).toMatch(
      /exited with code 1 before ready \(after it opened its control channel in lameduck\.listen\(\)\)/,
    );
  });
});
