// What most servers do today: server.close() on SIGTERM, then exit when it calls back. Listens on PORT
// (0: any free port). Plain JavaScript, so it starts without a TypeScript loader: the naive restart's
// new process boots as fast as node can, which only shortens its outage.
import http from 'node:http';

const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/slow')) {
    // Tells the demo the request arrived, so that it signals only once every slow request is in flight.
    process.stdout.write('slow request started\n');
    setTimeout(() => res.end('slept\n'), 1000);
  } else {
    res.end('hello\n');
  }
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
