// A WebSocket server (ws) whose clients are closed with 1001 "going away" when it drains. Run it, connect
// a client, then `kill -TERM <pid>` (or Ctrl+C):
//   node --conditions=@lameduck/source --import tsx examples/websocket/server.ts
//   node -e "new (require('ws'))('ws://127.0.0.1:3000').on('close', (c, r) => console.log(c, String(r)))"
// Environment: PORT (3000), HOST (127.0.0.1), DRAIN_DELAY (0), SHUTDOWN_TIMEOUT (20000).
import type { AddressInfo } from 'node:net';
import { createLameduck } from '@lameduck/core';
import { buildServer } from './app.js';

const lameduck = createLameduck({
  drainDelay: Number(process.env.DRAIN_DELAY ?? 0),
  // A client that does not answer the close frame is cut off at this deadline.
  timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000),
});
const server = buildServer(lameduck);
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  process.stdout.write(`listening on ws://${address}:${port} (pid ${process.pid})\n`);
});
