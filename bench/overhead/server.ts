// One server for the per-request cost benchmark: `server.ts <stack> <bare|lameduck> [<source-maps.json>]`
// listens on 127.0.0.1, port 0, answers GET / with a 2-byte body, and prints `{"port":N}` on stdout once
// listening. It runs in a process of its own, so the load generator (load.ts) never shares its CPU time
// with it. With a third argument (profile.ts, which also runs it with --enable-source-maps), it writes
// the source maps of lameduck's modules to that file as it exits.
import fs from 'node:fs';
import http from 'node:http';
import { findSourceMap } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLameduck } from '@lameduck/core';

const [stack = 'node', mode = 'bare', sourceMapsFile] = process.argv.slice(2);
const withLameduck = mode === 'lameduck';
const core = { signals: false, logger: false } as const;

async function start(): Promise<http.Server> {
  switch (stack) {
    case 'node': {
      const handler: http.RequestListener = (_req, res) => res.end('ok');
      if (!withLameduck) return http.createServer(handler);
      const lameduck = createLameduck(core);
      const server = http.createServer(lameduck.handle(handler));
      lameduck.attach(server);
      return server;
    }
    case 'express': {
      const { default: express } = await import('express');
      const app = express();
      if (withLameduck) {
        const { graceful } = await import('@lameduck/express');
        app.use(graceful(core));
      }
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      return http.createServer(app);
    }
    case 'koa': {
      const { default: Koa } = await import('koa');
      const app = new Koa();
      if (withLameduck) {
        const { graceful } = await import('@lameduck/koa');
        app.use(graceful(core));
      }
      app.use((ctx) => {
        ctx.body = 'ok';
      });
      return http.createServer(app.callback());
    }
    case 'fastify': {
      const { default: Fastify } = await import('fastify');
      const fastify = Fastify();
      if (withLameduck) {
        const { gracefulPlugin } = await import('@lameduck/fastify');
        await fastify.register(gracefulPlugin, core);
      }
      fastify.get('/', async () => 'ok');
      await fastify.ready();
      return fastify.server;
    }
    default:
      throw new Error(`unknown stack ${stack}; use node, express, koa or fastify`);
  }
}

const server = await start();
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

// Each line on stdin is answered with this process's CPU time so far (user + system, µs) and the
// monotonic clock (µs): the bench reads both at the start and the end of each slice of load, so CPU per
// request is measured per slice, a figure other load on the machine disturbs far less than req/s. The
// monotonic clock is the one V8 stamps --cpu-prof samples with, which lets profile.ts keep only the
// samples of the measured window. Stdin rather than a signal or an IPC channel: a pipe costs the
// server nothing while it serves and stays the same for every stack.
let pending = '';
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
    pending = pending.slice(nl + 1);
    const cpu = process.cpuUsage();
    const mono = Number(process.hrtime.bigint() / 1_000n);
    process.stdout.write(`${JSON.stringify({ cpu: cpu.user + cpu.system, mono })}\n`);
  }
});
// The bench gone (its end of the pipe closed) means nobody will stop this server: exit rather than linger.
process.stdin.on('end', () => process.exit(0));
// SIGTERM exits through process.exit(), which is when node writes a --cpu-prof profile (SIGKILL would
// lose it).
process.on('SIGTERM', () => process.exit(0));
if (sourceMapsFile !== undefined) process.on('exit', () => writeSourceMaps(sourceMapsFile));

/**
 * tsx compiles each module to a single line (esbuild's minifyWhitespace), so a profile's line numbers
 * say nothing: the source maps it attached, which node keeps for each module it loaded when run with
 * --enable-source-maps, are what takes a profile's frames back to lines of lameduck's TypeScript.
 */
function writeSourceMaps(file: string): void {
  const packages = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages');
  const maps: Record<string, unknown> = {};
  for (const pkg of ['core', 'express', 'fastify', 'koa']) {
    const src = path.join(packages, pkg, 'src');
    const files = fs.readdirSync(src, { recursive: true, encoding: 'utf8' });
    for (const f of files.filter((f) => f.endsWith('.ts'))) {
      const url = pathToFileURL(path.join(src, f)).href;
      const map = findSourceMap(url);
      if (map !== undefined) maps[url] = map.payload;
    }
  }
  fs.writeFileSync(file, JSON.stringify(maps));
}
