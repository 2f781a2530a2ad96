import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  binPath,
  cli,
  collectPids,
  freePort,
  get,
  keeperDir,
  killAfterEach,
  load,
  nodeArgs,
  Proc,
  tmpDir,
} from './helpers.js';

const seenPids = killAfterEach();

const fixture = (name: string) => path.join(keeperDir, 'test/fixtures', `${name}-app.ts`);

function keeper(app: string, port: number, control: string, extra: readonly string[] = [], env = {}): Proc {
  const args = ['run', '--listen', `127.0.0.1:${port}`, '--control', control, '--settle', '200ms', ...extra];
  const worker = [process.execPath, ...nodeArgs, fixture(app)];
  const p = new Proc(process.execPath, [...nodeArgs, binPath, ...args, '--', ...worker], {
    ...process.env,
    PORT: String(port),
    MESSAGE: `hello from ${app}`,
    ...env,
  });
  collectPids(p, seenPids);
  return p;
}

// Each app file is the guide's and its adapter README's "under the keeper" example: one line replaces
// app.listen() (fastify.listen()), and the same line binds the port itself when no keeper runs it.
describe('framework apps under the keeper', () => {
  for (const app of ['express', 'koa', 'fastify']) {
    it(`${app}: serves, reloads under keep-alive load without a failed request, stops with 0; runs alone too`, async () => {
      const port = await freePort();
      const control = path.join(tmpDir(), 'c.sock');
      const k = keeper(app, port, control);
      await k.msg('generation serving');
      const body = `hello from ${app}\n`;
      expect((await get(port)).body).toBe(body);
      const traffic = load(port, [body]);
      await traffic.until(100);
      const r = await cli(['reload', '--control', control]);
      expect(r.code, r.stderr).toBe(0);
      await k.msg('generation drained', (l) => l.gen === 1);
      const stats = await traffic.stop();
      expect(stats.errors).toEqual({});
      expect(stats.pids.size).toBe(2);
      k.signal('SIGTERM');
      expect((await k.exited).code).toBe(0);

      // No keeper: the same line listens on the port on its own, and SIGTERM drains as usual.
      const alonePort = await freePort();
      const alone = new Proc(process.execPath, [...nodeArgs, fixture(app)], {
        ...process.env,
        PORT: String(alonePort),
        MESSAGE: 'alone',
      });
      await alone.waitFor((l) => l.app === 'listening');
      expect(await get(alonePort)).toMatchObject({ status: 200, body: 'alone\n', pid: alone.pid });
      alone.signal('SIGTERM');
      expect((await alone.exited).code).toBe(0);
    });
  }

  it('names the likely cause when a worker never takes its socket (app.listen() under the keeper)', async () => {
    // The ready timeout is the thing tested: the worker listens on a port of its own and never talks
    // to the keeper.
    const port = await freePort();
    const control = path.join(tmpDir(), 'c.sock');
    const k = keeper('express', port, control, ['--ready-timeout', '3s'], { LISTEN: 'app.listen' });
    expect((await k.exited).code).toBe(4);
    const failed = await k.msg('first generation never became ready');
    expect(String(failed.reason)).toMatch(
      /not ready within 3000 ms: worker 0 \(pid \d+\) never talked to the keeper .*does it call lameduck\.listen\(\)\? app\.listen\(port\) and server\.listen\(port\) bind a socket of their own/,
    );
  });
});
