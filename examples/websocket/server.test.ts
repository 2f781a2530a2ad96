import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Child, spawnSource } from '@lameduck/testkit';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

it('closes a connected WebSocket client with 1001 on SIGTERM, then exits 0', async () => {
  const child: Child = spawnSource(fileURLToPath(new URL('./server.ts', import.meta.url)), {
    env: { PORT: '0' },
  });
  cleanup.push(() => child.kill());
  const url = (await child.line('listening on ')).split(' ')[0] ?? '';

  const client = new WebSocket(url);
  cleanup.push(() => client.terminate());
  const closed = once(client, 'close');
  await once(client, 'open');
  client.send('ping');
  const [echo] = (await once(client, 'message')) as [Buffer];
  expect(echo.toString()).toBe('ping');

  child.signal('SIGTERM');
  const [code, reason] = (await closed) as [number, Buffer];
  // 1001, not 1006: the server said goodbye with a close frame instead of dropping the connection.
  expect(code).toBe(1001);
  expect(reason.toString()).toBe('server shutting down');
  expect(await child.exited).toEqual({ code: 0, signal: null });
  // Closed by the app within the drain, not destroyed at the deadline.
  expect(child.stderr()).toMatch(/shutdown complete.* forced=0 exitCode=0/);
});
