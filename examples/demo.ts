// The demo: the same deploy-time traffic against a naive `server.close()` server and a lameduck server.
// Slow requests are in flight, idle keep-alive sockets are open and 20 keep-alive clients are busy when
// SIGTERM arrives; the demo prints what the clients saw and how long each server took to exit.
//   npm run demo
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

interface Tally {
  ok: number;
  rejected503: number;
  refused: number;
  reset: number;
  other: number;
}

const blank = (): Tally => ({ ok: 0, rejected503: 0, refused: 0, reset: 0, other: 0 });

function get(agent: http.Agent, port: number, path: string): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? 'aborted' }));
      })
      .on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

function count(tally: Tally, r: { status?: number; error?: string }): void {
  if (r.status !== undefined && r.status < 400) tally.ok++;
  else if (r.status === 503) tally.rejected503++;
  else if (r.error === 'ECONNREFUSED') tally.refused++;
  else if (r.error === 'ECONNRESET') tally.reset++;
  else tally.other++;
}

async function scenario(label: string, file: string, env: Record<string, string> = {}) {
  console.log(`\n━━ ${label} ━━`);
  const child = spawn(process.execPath, ['--conditions=@lameduck/source', '--import', 'tsx', file], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    for (const line of d.split('\n').filter(Boolean)) console.log(`  server │ ${line}`);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`${file} exited before listening`)));
  });

  const slowAgent = new http.Agent({ keepAlive: true });
  const idleAgent = new http.Agent({ keepAlive: true });
  const loadAgent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  // Five keep-alive sockets that go idle, as a load balancer's or a client's pool would hold.
  await Promise.all(Array.from({ length: 5 }, () => get(idleAgent, port, '/')));
  const slow = Array.from({ length: 10 }, () => get(slowAgent, port, '/slow?ms=1000'));

  const load = blank();
  let sent = 0;
  let sigtermAt = 0;
  let signal!: () => void;
  const signalled = new Promise<void>((resolve) => {
    signal = resolve;
  });
  const loop = async () => {
    // Bounded: each client stops when refused, or 2 s after SIGTERM, or after 2 000 requests.
    for (let i = 0; i < 2_000; i++) {
      if (sigtermAt > 0 && performance.now() - sigtermAt > 2_000) return;
      const r = await get(loadAgent, port, '/');
      sent++;
      if (sent === 300) signal();
      if (sigtermAt > 0) count(load, r);
      if (r.error === 'ECONNREFUSED') return;
    }
  };
  const loops = Promise.all(Array.from({ length: 20 }, loop));
  await signalled;
  sigtermAt = performance.now();
  console.log(
    '  demo   │ SIGTERM with 10 slow requests in flight, 5 idle sockets, 20 busy keep-alive clients',
  );
  child.kill('SIGTERM');

  const slowTally = blank();
  for (const r of await Promise.all(slow)) count(slowTally, r);
  await loops;
  const code = await exited;
  const exitMs = Math.round(performance.now() - sigtermAt);
  for (const a of [slowAgent, idleAgent, loadAgent]) a.destroy();

  console.log(`  demo   │ exit code ${code}, ${exitMs} ms after SIGTERM`);
  console.log(
    `  demo   │ slow requests in flight: ${slowTally.ok}/10 completed, ${10 - slowTally.ok} failed`,
  );
  console.log(
    `  demo   │ clients after SIGTERM: ${load.ok} ok, ${load.rejected503} answered 503 + Retry-After, ` +
      `${load.refused} refused cleanly, ${load.reset} reset, ${load.other} other errors`,
  );
  return { exitMs, failed: 10 - slowTally.ok + load.reset + load.other };
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const naive = await scenario('naive: server.close() on SIGTERM', here('./demo/naive-server.ts'));
const graceful = await scenario('lameduck', here('./node-http/server.ts'));
console.log('\n━━ summary ━━');
console.log(`  naive    : ${naive.failed} failed requests, exited ${naive.exitMs} ms after SIGTERM`);
console.log(`  lameduck : ${graceful.failed} failed requests, exited ${graceful.exitMs} ms after SIGTERM`);
process.exitCode = graceful.failed === 0 ? 0 : 1;
