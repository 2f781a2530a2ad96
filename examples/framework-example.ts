// The scenario the Express, Koa and Fastify examples share. Their server.ts files promise the same
// behaviour (two ports under one lifecycle, a slow request, a cache flushed at shutdown), each in its
// framework's words, so one test checks each of them; only the name of the flush hook differs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSource } from '@lameduck/testkit';
import { expect, onTestFinished } from 'vitest';
import { get } from './http-get.js';

/**
 * Runs the example's `server` and stops it with SIGTERM while a slow request is in flight: readiness
 * turns 503 and liveness stays 200, the app serves with `Connection: close` through the drain delay,
 * both listeners then refuse, the slow request finishes, the cache is flushed (by the hook that
 * `flushHook` matches in the log) and the process exits 0.
 */
export async function drainsBothPorts(server: URL, flushHook: RegExp): Promise<void> {
  const name = path.basename(path.dirname(fileURLToPath(server)));
  const dir = mkdtempSync(path.join(os.tmpdir(), `lameduck-${name}-`));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const flushFile = path.join(dir, 'cache.json');
  const child = spawnSource(fileURLToPath(server), {
    env: {
      PORT: '0',
      ADMIN_PORT: '0',
      // Held until the test sends SIGUSR2: the request stays in flight for exactly as long as needed.
      SLOW_MS: '120000',
      // Long enough to probe readiness while the listeners are still open.
      DRAIN_DELAY: '5000',
      FLUSH_FILE: flushFile,
    },
  });
  onTestFinished(() => child.kill());
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
  expect(child.stderr()).toMatch(flushHook);
  expect(child.stderr()).toMatch(/shutdown complete.*exitCode=0/);
}
