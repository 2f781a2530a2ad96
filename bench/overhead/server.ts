// One server for the per-request cost benchmark: `server.ts <stack> <bare|lameduck>` listens on
// 127.0.0.1, port 0, answers GET / with a 2-byte body, and prints `{"port":N}` on stdout once listening.
// It runs in a process of its own, so the load generator never shares its CPU time with it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLameduck } from '@lameduck/core';

const [stack = 'node', mode = 'bare'] = process.argv.slice(2);
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
// On SIGTERM: the CPU time this process used since it listened, then exit. CPU time per request is a
// figure that other load on the machine disturbs far less than requests per second.
let cpuAtListen = process.cpuUsage();
server.on('listening', () => {
  cpuAtListen = process.cpuUsage();
});
process.on('SIGTERM', () => {
  const cpu = process.cpuUsage(cpuAtListen);
  process.stdout.write(`${JSON.stringify({ cpuMicros: cpu.user + cpu.system })}\n`);
  process.exit(0);
});
