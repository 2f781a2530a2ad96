// What most servers do today: server.close() on SIGTERM, then exit when it calls back. Listens on PORT
// (0, any free port, when unset).
import http from 'node:http';

const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/slow')) setTimeout(() => res.end('slept\n'), 1000);
  else res.end('hello\n');
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') {
    process.stdout.write(`listening on http://${address.address}:${address.port} (pid ${process.pid})\n`);
  }
});
