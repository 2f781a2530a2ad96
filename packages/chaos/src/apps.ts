import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { pipeline } from 'node:stream';
import { type AnyServer, createLameduck, type Lameduck, type LameduckOptions } from '@lameduck/core';
import type { Framework, Protocol } from './plan.js';
import { type Answer, answer, collect } from './routes.js';

export interface BuildOptions {
  framework: Framework;
  protocol: Protocol;
  options: LameduckOptions;
  tls: { key: string; cert: string } | undefined;
  /** Listen through `lameduck.listen()` (restart modes) instead of the framework's usual way. */
  handover: boolean;
  /** A handler started for request `id`. */
  onRun: (id: number) => void;
  /** The framework's own close hook ran (Fastify's `onClose`). */
  onAppClose: () => void;
}

export interface BuiltApp {
  lameduck: Lameduck;
  server: AnyServer;
  /** Starts listening on 127.0.0.1 (or on the socket handed over); resolves the port. */
  listen(target: string | { port: number; host: string }): Promise<number>;
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * Room for the clients that stop reading multi-megabyte bodies: past node's default of 10 MB per
 * session, nghttp2 refuses new streams with ENHANCE_YOUR_CALM, node's protection and not the drain's.
 */
const h2Options = { maxSessionMemory: 256 };

/** A node server of the protocol's kind around a request listener (every framework here has one). */
function nodeServer(protocol: Protocol, tls: BuildOptions['tls'], listener: Listener): AnyServer {
  const h2 = listener as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  switch (protocol) {
    case 'http':
      return http.createServer(listener);
    case 'https':
      return https.createServer({ ...tls }, listener);
    case 'h2':
      return http2.createSecureServer({ ...tls, ...h2Options, allowHTTP1: true }, h2);
    case 'h2c':
      return http2.createServer(h2Options, h2);
  }
}

function portOf(server: AnyServer): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  return address.port;
}

async function listenOn(
  lameduck: Lameduck,
  server: AnyServer,
  handover: boolean,
  target: string | { port: number; host: string },
): Promise<number> {
  if (handover) {
    await lameduck.listen(server, target);
  } else {
    const { port, host } = typeof target === 'string' ? { port: 0, host: '127.0.0.1' } : target;
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
  }
  return portOf(server);
}

/**
 * The server of a request listener. Plain HTTP without a restart mode listens the zero-config way a
 * user writes it (`app.listen()`, found by discovery); otherwise a server of the protocol's kind,
 * attached explicitly, or listened through `lameduck.listen()` in a restart mode.
 */
function served(
  o: BuildOptions,
  lameduck: Lameduck,
  listener: Listener,
  appListen?: () => http.Server,
): BuiltApp {
  if (appListen !== undefined && o.protocol === 'http' && !o.handover) {
    const server = appListen();
    return {
      lameduck,
      server,
      listen: async () => {
        if (!server.listening) await once(server, 'listening');
        return portOf(server);
      },
    };
  }
  const server = nodeServer(o.protocol, o.tls, listener);
  if (!o.handover) lameduck.attach(server);
  return { lameduck, server, listen: (target) => listenOn(lameduck, server, o.handover, target) };
}

/** Sends an answer through a bare node response (plain node server). */
function send(res: http.ServerResponse, a: Answer): void {
  res.statusCode = a.status;
  res.setHeader('Content-Type', a.type);
  if (Buffer.isBuffer(a.body)) {
    res.setHeader('Content-Length', a.body.length);
    res.end(a.body);
  } else {
    pipeline(a.body, res, () => {});
  }
}

async function buildNode(o: BuildOptions): Promise<BuiltApp> {
  const lameduck = createLameduck(o.options);
  const app: Listener = (req, res) => {
    answer(req.url ?? '/', () => collect(req), lameduck.signalFor(req), o.onRun).then(
      (a) => send(res, a),
      () => res.writeHead(500).end(),
    );
  };
  return served(o, lameduck, lameduck.handle(app, { readinessPath: '/readyz' }));
}

async function buildExpress(o: BuildOptions): Promise<BuiltApp> {
  const express = (o.framework === 'express4' ? await import('express4') : await import('express')).default;
  const { graceful } = await import('@lameduck/express');
  const lifecycle = graceful({ ...o.options, readinessPath: '/readyz' });
  const { lameduck } = lifecycle;
  const app = express();
  app.use(lifecycle);
  const route = (req: http.IncomingMessage, res: import('express').Response, next: (e?: unknown) => void) => {
    answer(req.url ?? '/', () => collect(req), lameduck.signalFor(req), o.onRun).then((a) => {
      res.status(a.status).type(a.type);
      if (Buffer.isBuffer(a.body)) res.send(a.body);
      else pipeline(a.body, res, () => {});
    }, next);
  };
  app.get(['/work', '/stream', '/big'], route);
  app.post('/upload', route);
  return served(o, lameduck, app, () => app.listen(0, '127.0.0.1'));
}

async function buildKoa(o: BuildOptions): Promise<BuiltApp> {
  const Koa = (o.framework === 'koa2' ? await import('koa2') : await import('koa')).default;
  const { graceful } = await import('@lameduck/koa');
  const lifecycle = graceful({ ...o.options, readinessPath: '/readyz' });
  const { lameduck } = lifecycle;
  const app = new Koa();
  app.silent = true;
  app.use(lifecycle);
  app.use(async (ctx) => {
    const a = await answer(ctx.url, () => collect(ctx.req), lameduck.signalFor(ctx.req), o.onRun);
    ctx.status = a.status;
    ctx.type = a.type;
    ctx.body = a.body;
  });
  return served(o, lameduck, app.callback(), () => app.listen(0, '127.0.0.1'));
}

async function buildFastify(o: BuildOptions): Promise<BuiltApp> {
  const { default: Fastify } = await import('fastify');
  const { gracefulPlugin } = await import('@lameduck/fastify');
  const secure = o.protocol === 'https' || o.protocol === 'h2';
  const http2 = o.protocol === 'h2' || o.protocol === 'h2c';
  const fastify = Fastify({
    ...(http2 ? { http2: true, http: h2Options } : {}),
    ...(secure ? { https: { ...o.tls, ...(http2 ? { ...h2Options, allowHTTP1: true } : {}) } } : {}),
  } as Parameters<typeof Fastify>[0]);
  await fastify.register(gracefulPlugin, { ...o.options, readinessPath: '/readyz' });
  fastify.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: 16_777_216 },
    (_req, body, done) => done(null, body),
  );
  const { lameduck } = fastify;
  fastify.route({
    method: ['GET', 'POST'],
    url: '/*',
    handler: async (request, reply) => {
      const body = async () => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      const a = await answer(request.url, body, lameduck.signalFor(request.raw), o.onRun);
      return reply.code(a.status).type(a.type).send(a.body);
    },
  });
  // The app's own close hook: it must run once, after the drain.
  fastify.addHook('onClose', async () => o.onAppClose());
  const server = fastify.server as unknown as AnyServer;
  return {
    lameduck,
    server,
    async listen(target) {
      if (!o.handover) {
        await fastify.listen({ port: 0, host: '127.0.0.1' });
        return portOf(server);
      }
      await fastify.ready();
      return listenOn(lameduck, server, true, target);
    },
  };
}

export function buildApp(o: BuildOptions): Promise<BuiltApp> {
  if (o.framework === 'node') return buildNode(o);
  if (o.framework === 'express4' || o.framework === 'express5') return buildExpress(o);
  if (o.framework === 'koa2' || o.framework === 'koa3') return buildKoa(o);
  return buildFastify(o);
}
