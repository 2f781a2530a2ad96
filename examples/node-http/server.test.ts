import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function get(port: number, path: string): Promise<{ status?: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
      })
      .on('error', reject);
  });
}

it('serves, then drains a slow request on SIGTERM with Connection: close and exits 0', async () => {
  const file = fileURLToPath(new URL('./server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@lameduck/source', '--import', 'tsx', file], {
    env: { ...process.env, PORT: '0', DRAIN_DELAY: '1000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = once(child, 'exit');
  let out = '';
  const port = await new Promise<number>((resolve) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  expect(await get(port, '/')).toMatchObject({ status: 200, body: 'hello\n' });
  expect((await get(port, '/readyz')).status).toBe(200);
  const slow = get(port, '/slow?ms=300');
  // With a drain delay the listener stays open for a second after SIGTERM, so the slow request is
  // served whether it reached the server just before the signal or just after.
  child.kill('SIGTERM');
  expect(await slow).toEqual({ status: 200, body: 'slept 300 ms\n', connection: 'close' });
  const [code] = await exited;
  expect(code).toBe(0);
});
