// Two lameduck instances behind a real nginx, configured by ./nginx.conf, through a rolling restart
// under continuous keep-alive load: the clients must not see a single failed request.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'vitest';
import { replaceOnce, rollingRestart } from '../harness.js';
import {
  balance,
  balancerSuite,
  expectCleanRoll,
  loadThrough,
  type Ports,
  restartsSummary,
} from '../load-balancer.js';

const nginx = balancerSuite('nginx', 'nginx');

/** The shipped nginx.conf with only what is specific to this machine changed: ports, paths, user. */
function render(template: string, { listen, a, b }: Ports, dir: string): string {
  let conf = template;
  // Workers run as the current user. nginx switches users only when started as root (CI): then it
  // stays root, since the temporary directory belongs to root.
  conf = replaceOnce(conf, /^user .*;$/m, process.getuid?.() === 0 ? 'user root;' : '');
  conf = replaceOnce(conf, /^pid .*;$/m, `pid ${dir}/nginx.pid;`);
  conf = replaceOnce(conf, /^error_log .*;$/m, 'error_log stderr notice;');
  conf = replaceOnce(conf, /access_log \S+ upstream;/, `access_log ${dir}/access.log upstream;`);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`);
  conf = replaceOnce(conf, /^http \{$/m, `http {\n  ${temp.join('\n  ')}`);
  conf = replaceOnce(conf, /listen 8080;/, `listen 127.0.0.1:${listen};`);
  conf = replaceOnce(conf, /server 127\.0\.0\.1:3001 /, `server 127.0.0.1:${a} `);
  conf = replaceOnce(conf, /server 127\.0\.0\.1:3002 /, `server 127.0.0.1:${b} `);
  return conf;
}

/**
 * Starts two instances with this drain delay behind nginx, restarts `restarts` of them one after the
 * other under load, and checks that the clients saw no failure. Returns a summary line.
 */
async function rollBehindNginx(
  context: TestContext,
  file: string,
  drainDelay: number,
  restarts = 2,
): Promise<string> {
  const started = performance.now();
  // nginx has no health checks to wait for, so the instances go first.
  const balanced = await balance(context, new URL('./nginx.conf', import.meta.url), render, drainDelay);
  const { procs, dir, instances, env } = balanced;
  // -p: relative paths resolve in the temporary directory; -g: stay in the foreground, a child of this
  // test (the shipped file leaves `daemon` to the service manager).
  const lb = procs.service(file, ['-p', `${dir}/`, '-c', balanced.config, '-g', 'daemon off;']);
  await lb.waitFor(/start worker process/);

  const load = await loadThrough(context, balanced);
  const { instances: fresh, steps } = await rollingRestart(procs, instances.slice(0, restarts), load, env);
  await load.more(200);
  const report = await load.stop();

  const accessLog = readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean);
  // A request nginx tried on more than one instance: upstream="127.0.0.1:a, 127.0.0.1:b".
  const retried = accessLog.filter((line) => /upstream="[^"]*, /.test(line));
  expectCleanRoll(context, { report, steps, served: [...instances, ...fresh], drainDelay }, lb.output());
  const kinds = new Map<string, number>();
  for (const line of retried) {
    const status = /upstream_status="([^"]*)"/.exec(line)?.[1] ?? '?';
    kinds.set(status, (kinds.get(status) ?? 0) + 1);
  }
  return (
    `${report.requests} requests, 0 failed, ${retried.length} retried by nginx ` +
    `(${[...kinds].map(([k, n]) => `${n}× "${k}"`).join(', ')}); ${restartsSummary(steps, started)}`
  );
}

describe.skipIf(nginx.skip)(nginx.title, () => {
  // Concurrent: each test mostly waits (drain delays, fail_timeout), so the two share the wall time.
  it.concurrent('rolls both instances under keep-alive GET and POST load with zero failed requests (drain delay 5 s)', async (context) => {
    // nginx does not read /readyz: during the drain delay it keeps sending requests, which are served
    // (with Connection: close), and it learns at the listener close, from refused connections.
    console.info(`nginx, drainDelay 5000: ${await rollBehindNginx(context, nginx.file(), 5000)}`);
  });

  it.concurrent('fails no request without a drain delay either: nginx learns from refusals in both cases', async (context) => {
    // One restart shows it; the second would take as long and show nothing more.
    console.info(`nginx, drainDelay 0: ${await rollBehindNginx(context, nginx.file(), 0, 1)}`);
  });
});
