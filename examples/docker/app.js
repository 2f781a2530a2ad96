import http from 'node:http';

/**
 * Builds the application server; `server.js` listens. Routes: `/` answers, `/readyz` is the readiness
 * probe (503 from the first moment of a drain).
 *
 * @param {import('@lameduck/core').Lameduck} lameduck
 * @returns {http.Server}
 */
export function buildServer(lameduck) {
  const app = (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('hello\n');
  };
  return http.createServer(lameduck.handle(app, { readinessPath: '/readyz' }));
}
