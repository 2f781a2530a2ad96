import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, spawnSource } from '@lameduck/testkit';
import { afterEach, expect, it } from 'vitest';

const children: Child[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** One GET on a new connection; never rejects (a refused connection is an answer here). */
function get(url: string): Promise<{ status?: number; body?: string; connection?: string; error?: string }> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

it('drains both ports on SIGTERM: readiness 503, the slow request finishes, the cache is flushed, exit 0', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lameduck-koa-'));
  dirs.push(dir);
  const flushFile = path.join(dir, 'cache.json');
  const child = spawnSource(fileURLToPath(new URL('./server.ts', import.meta.url)), {
    env: {
      PORT: '0',
      ADMIN_PORT: '0',
      // Held until the test sends SIGUSR2: the request stays in flight for exactly as long as needed.
      SLOW_MS: '120000',
      // Long enough to probe readiness while the listeners are still open.
      DRAIN_DELAY: '2000',
      FLUSH_FILE: flushFile,
    },
  });
  children.push(child);
  const app = (await child.line('app listening on ')).split(' ')[0] ?? '';
  const admin = (await child.line('admin listening on ')).split(' ')[0] ?? '';

  expect(await get(`${app}/`)).toMatchObject({ status: 200, body: 'hello\n' });
  expect(await get(`${admin}/readyz`)).toMatchObject({ status: 200, body: '{"status":"ready"}' });
  expect(await get(`${admin}/livez`)).toMatchObject({ status: 200 });

  const slow = get(`${app}/slow`);
  await child.line('slow request started');
  child.signal('SIGTERM');
  await child.match(/shutdown started/);
  // Readiness fails at once, liveness holds: the process is draining, not broken.
  expect(await get(`${admin}/readyz`)).toMatchObject({ status: 503, body: '{"status":"draining"}' });
  expect(await get(`${admin}/livez`)).toMatchObject({ status: 200 });
  // During the drain delay the app still serves, and tells the client not to come back on this connection.
  expect(await get(`${app}/`)).toEqual({ status: 200, body: 'hello\n', connection: 'close' });

  // After the drain delay both listeners close: new connections are refused by the kernel, on both ports.
  await child.match(/listeners closed/);
  expect(await get(`${app}/`)).toEqual({ error: 'ECONNREFUSED' });
  expect(await get(`${admin}/readyz`)).toEqual({ error: 'ECONNREFUSED' });

  child.signal('SIGUSR2');
  expect(await slow).toEqual({ status: 200, body: 'hello\n', connection: 'close' });
  expect(await child.exited).toEqual({ code: 0, signal: null });
  expect(child.stdout()).toContain(`cache flushed to ${flushFile}`);
  expect(JSON.parse(readFileSync(flushFile, 'utf8'))).toEqual({ '/': 2, '/slow': 1 });
  expect(child.stderr()).toMatch(/hook done hook=flush-cache/);
  expect(child.stderr()).toMatch(/shutdown complete.*exitCode=0/);
});
