// The ways of shutting down that bench/compare sets side by side (server.ts builds each).

export const contenders = [
  'lameduck',
  'close',
  'http-terminator',
  'stoppable',
  'terminus',
  'http-graceful-shutdown',
  'lameduck-fastify',
  'close-with-grace',
  'fastify-close',
] as const;
export type Contender = (typeof contenders)[number];

/** What each contender is, for the report. */
export const described: Record<Contender, string> = {
  lameduck: 'lameduck (node:http, `handle()` + `attach()`, defaults)',
  close: 'plain `server.close()`, exit in its callback',
  'http-terminator': 'http-terminator `terminate()` (defaults)',
  stoppable: 'stoppable `server.stop()` (defaults: grace Infinity)',
  terminus: '@godaddy/terminus (defaults: stoppable with a 1 s grace)',
  'http-graceful-shutdown': 'http-graceful-shutdown (defaults: 30 s timeout, 250 ms polling)',
  'lameduck-fastify': 'lameduck with Fastify (`gracefulPlugin`, defaults)',
  'close-with-grace': 'close-with-grace + `fastify.close()` (defaults: 10 s delay)',
  'fastify-close': "Fastify's own `fastify.close()` on SIGTERM",
};
