// Two lameduck instances behind a real nginx, configured by ./nginx.conf, through a rolling restart
// under continuous keep-alive load: the clients must not see a single failed request.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'vitest';
import { binarySuite, freePorts, Load, Processes, replaceOnce, rollingRestart } from '../harness.js';

const nginx = binarySuite('nginx', 'nginx');

/** The shipped nginx.conf with only what is specific to this machine changed: ports, paths, user. */
function render(template: string, dir: string, listen: number, a: number, b: number): string {
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
  { expect, onTestFinished }: TestContext,
  file: string,
  drainDelay: number,
  restarts = 2,
): Promise<string> {
  const started = performance.now();
  // Everything per test, cleaned up by the test's own hook: the tests run side by side.
  const procs = new Processes();
  const dir = mkdtempSync(path.join(tmpdir(), 'lameduck-nginx-'));
  onTestFinished(async () => {
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const [listen, a, b] = (await freePorts(3)) as [number, number, number];
  const template = readFileSync(fileURLToPath(new URL('./nginx.conf', import.meta.url)), 'utf8');
  writeFileSync(path.join(dir, 'nginx.conf'), render(template, dir, listen, a, b));

  // nginx has no health checks to wait for, so the instances go first.
  const env = { DRAIN_DELAY: String(drainDelay), SHUTDOWN_TIMEOUT: '20000' };
  const instances = await Promise.all([procs.instance(a, env), procs.instance(b, env)]);
  // -p: relative paths resolve in the temporary directory; -g: stay in the foreground, a child of this
  // test (the shipped file leaves `daemon` to the service manager).
  const args = ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'];
  const lb = procs.service(file, args);
  await lb.waitFor(/start worker process/);

  const load = new Load({ port: listen });
  onTestFinished(() => load.stop().then(() => {}));
  await Promise.all(instances.map((i) => load.seen(i.pid)));
  const { instances: fresh, steps } = await rollingRestart(procs, instances.slice(0, restarts), load, env);
  await load.more(200);
  const report = await load.stop();

  const accessLog = readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean);
  // A request nginx tried on more than one instance: upstream="127.0.0.1:a, 127.0.0.1:b".
  const retried = accessLog.filter((line) => /upstream="[^"]*, /.test(line));
  const context = `failures: ${JSON.stringify(report.failures.slice(0, 20))}\nnginx:\n${lb.output().slice(-4000)}`;
  expect(report.failures, context).toEqual([]);
  expect(report.ok).toBe(report.requests);
  for (const step of steps) {
    // Without a drain delay the listener closes at once: the probe is refused, reset in the accept
    // queue, or answered 503 on a connection accepted just before. Each means "not ready".
    if (drainDelay > 0) expect(step.readinessAfterSignal).toBe(503);
    else expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(step.readinessAfterSignal);
    expect(step.exit).toEqual({ code: 0, signal: null });
    expect(step.exitMs).toBeGreaterThanOrEqual(drainDelay);
  }
  for (const i of [...instances, ...fresh]) expect(report.byInstance[String(i.pid)]).toBeGreaterThan(0);
  const kinds = new Map<string, number>();
  for (const line of retried) {
    const status = /upstream_status="([^"]*)"/.exec(line)?.[1] ?? '?';
    kinds.set(status, (kinds.get(status) ?? 0) + 1);
  }
  return (
    `${report.requests} requests, 0 failed, ${retried.length} retried by nginx ` +
    `(${[...kinds].map(([k, n]) => `${n}× "${k}"`).join(', ')}); restarts: ` +
    `${steps.map((s) => `exit ${s.exitMs} ms, replaced ${s.replacedMs} ms`).join('; ')}; ` +
    `test ${Math.round(performance.now() - started)} ms`
  );
}

describe.skipIf(nginx.skip)(nginx.title, () => {
  const file = () => {
    if (nginx.file === undefined)
      throw new Error(`${nginx.missing}; CI is set, so this fails instead of skipping`);
    return nginx.file;
  };

  // Concurrent: each test mostly waits (drain delays, fail_timeout), so the two share the wall time.
  it.concurrent('rolls both instances under keep-alive GET and POST load with zero failed requests (drain delay 5 s)', async (context) => {
    // nginx does not read /readyz: during the drain delay it keeps sending requests, which are served
    // (with Connection: close), and it learns at the listener close, from refused connections.
    console.info(`nginx, drainDelay 5000: ${await rollBehindNginx(context, file(), 5000)}`);
  });

  it.concurrent('fails no request without a drain delay either: nginx learns from refusals in both cases', async (context) => {
    // One restart shows it; the second would take as long and show nothing more.
    console.info(`nginx, drainDelay 0: ${await rollBehindNginx(context, file(), 0, 1)}`);
  });
});
