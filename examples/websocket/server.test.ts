import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Child, cleanupAfterEach, spawnSource } from '@lameduck/testkit';
import { expect, it } from 'vitest';
import WebSocket from 'ws';

const cleanup = cleanupAfterEach();

it('closes a connected WebSocket client with 1001 on SIGTERM, then exits 0', async () => {
  const child: Child = spawnSource(fileURLToPath(new URL('./server.ts', import.meta.url)), {
    env: { PORT: '0' },
  });
  cleanup(() => child.kill());
  const url = (await child.line('listening on ')).split(' ')[0] ?? '';

  const client = new WebSocket(url);
  cleanup(() => client.terminate());
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
