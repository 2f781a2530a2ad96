// The hot-restart walk-through (README.md): SIGHUP starts a copy of this process with the listening
// socket, and this one drains once the copy is ready. Run from the repository root:
//   node --conditions=@lameduck/source --import tsx examples/hot-restart/server.ts
// Environment: PORT (3000), HOST (127.0.0.1), GREETING_FILE (greeting.txt next to this file), PID_FILE
// (a file in the temp directory), SLOW_MS (10000), SHUTDOWN_TIMEOUT (20000). SIGUSR2 answers the slow
// requests that are waiting, at once.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLameduck } from '@lameduck/core';
import { buildApp } from './app.js';

// Read once, at start-up: it stands in for the code and configuration of a deploy. Changing the file
// changes nothing until the next restart, which runs the new "code".
const greetingFile = process.env.GREETING_FILE ?? fileURLToPath(new URL('./greeting.txt', import.meta.url));
const greeting = readFileSync(greetingFile, 'utf8').trim();
const pidFile = process.env.PID_FILE ?? path.join(os.tmpdir(), 'lameduck-hot-restart.pid');

const lameduck = createLameduck({ timeout: Number(process.env.SHUTDOWN_TIMEOUT ?? 20_000) });
const { server, finishSlowRequests } = buildApp(lameduck, greeting, Number(process.env.SLOW_MS ?? 10_000));
process.on('SIGUSR2', finishSlowRequests);

// Takes the socket its parent handed over when this process is the new copy of a restart; binds the
// port when it runs on its own. Either way it reports ready once listening, which is what the parent
// waits for before it drains.
await lameduck.listen(server, {
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
});
// SIGHUP restarts: a copy of this command (same node, flags, script and environment) gets the socket.
// The PID changes on every restart; the PID file follows the process that serves, rewritten by the
// new one when it takes over, for scripts (and systemd's PIDFile=) that signal the server.
lameduck.bindRestart({ signal: 'SIGHUP', pidFile });

const { address, port } = server.address() as AddressInfo;
process.stdout.write(`serving "${greeting}" at http://${address}:${port} (pid ${process.pid})\n`);
