import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, cleanupAfterEach, spawnSource } from '@lameduck/testkit';
import { expect, it } from 'vitest';
import { get } from '../http-get.js';

const cleanup = cleanupAfterEach();

/** Resolves once the PID file names `pid`: it is renamed into place, which a watch on its directory sees. */
function pidFileNames(file: string, pid: number): Promise<void> {
  const names = () => {
    try {
      return Number(fs.readFileSync(file, 'utf8').trim()) === pid;
    } catch {
      return false;
    }
  };
  return new Promise((resolve) => {
    const watcher = fs.watch(path.dirname(file), () => {
      if (names()) done();
    });
    const done = () => {
      watcher.close();
      resolve();
    };
    if (names()) done();
  });
}

it('SIGHUP: the in-flight request finishes with the old greeting, new requests get the new one from a new PID', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-hot-restart-'));
  cleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const greetingFile = path.join(dir, 'greeting.txt');
  const pidFile = path.join(dir, 'app.pid');
  fs.writeFileSync(greetingFile, 'hello\n');
  const child: Child = spawnSource(fileURLToPath(new URL('./server.ts', import.meta.url)), {
    env: {
      PORT: '0',
      GREETING_FILE: greetingFile,
      PID_FILE: pidFile,
      // Held until the test sends SIGUSR2: the request stays in flight for exactly as long as needed.
      SLOW_MS: '120000',
    },
  });
  cleanup(() => child.kill());
  const serving = /serving "(.*)" at (\S+) \(pid (\d+)\)\n/;

  // 1. Start: the first process serves "hello" and the PID file names it.
  const first = await child.match(serving, 'stdout');
  const [, , url = '', firstPid] = first;
  const oldPid = Number(firstPid);
  expect(oldPid).toBe(child.pid);
  await pidFileNames(pidFile, oldPid);
  expect(await get(`${url}/`)).toMatchObject({ status: 200, body: `hello (pid ${oldPid})\n` });

  // 2. A slow request, in flight in the old process.
  const slow = get(`${url}/slow`);
  await child.match(/slow request started/, 'stdout');

  // 3. Deploy: change the greeting, then SIGHUP.
  fs.writeFileSync(greetingFile, 'hello, world\n');
  child.signal('SIGHUP');
  const second = await child.match(serving, 'stdout', first.index + first[0].length);
  const newPid = Number(second[3]);
  cleanup(() => {
    try {
      process.kill(newPid, 'SIGKILL');
    } catch {}
  });
  expect(second[1]).toBe('hello, world');
  expect(second[2]).toBe(url); // the same socket: the port never closed
  expect(newPid).not.toBe(oldPid);

  // 4. Once the old process stopped accepting, every new connection reaches the new one.
  await child.match(/restart: the new process took over/);
  await child.match(/listeners closed/);
  expect(await get(`${url}/`)).toMatchObject({ status: 200, body: `hello, world (pid ${newPid})\n` });
  await pidFileNames(pidFile, newPid);

  // 5. The in-flight request still finishes in the old process, with the old greeting, and it exits 0.
  process.kill(oldPid, 'SIGUSR2');
  expect(await slow).toEqual({ status: 200, body: `hello (pid ${oldPid})\n`, connection: 'close' });
  expect(await child.exited).toEqual({ code: 0, signal: null });

  // 6. The new process serves on; stopped with SIGTERM, it drains and exits 0 too (it holds the pipes).
  expect(await get(`${url}/`)).toMatchObject({ status: 200, body: `hello, world (pid ${newPid})\n` });
  process.kill(newPid, 'SIGTERM');
  await child.closed;
  expect(child.stderr().match(/shutdown complete.*exitCode=0/g)).toHaveLength(2);
});
