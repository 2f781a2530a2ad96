// The units of this folder, checked as far as this machine allows without a running systemd:
// `systemd-analyze verify` reads them as systemd would; their numbers are checked against each other;
// and each ExecStart runs the way systemd would run it (systemd-socket-activate stands in for
// lameduck.socket), then is reloaded with ExecReload and stopped with KillSignal. Only the example paths
// change: /srv/myapp is a temporary app directory laid out as npm installs one, /run/myapp (the
// RuntimeDirectory) a temporary directory, port 8080 a free port.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Child, freePorts } from '@lameduck/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { binarySuite } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.resolve(here, '../..');
const unit = (name: string) => fs.readFileSync(path.join(here, name), 'utf8');

/**
 * The TypeScript source of the `lameduck` bin (the keeper): the workspace package whose package.json
 * declares it, its published path (`./dist/esm/X.js`) mapped back to the source (`src/X.ts`). The one
 * place that knows where the keeper lives.
 */
function keeperBinSource(): string {
  for (const dir of fs.readdirSync(path.join(repoDir, 'packages'))) {
    const pkgDir = path.join(repoDir, 'packages', dir);
    let pkg: { bin?: Record<string, string> };
    try {
      pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    const published = pkg.bin?.lameduck;
    if (published === undefined) continue;
    return path.join(pkgDir, published.replace(/^\.\/dist\/esm\//, 'src/').replace(/\.js$/, '.ts'));
  }
  throw new Error('no workspace package declares the lameduck bin');
}

/**
 * /srv/myapp as `npm install @lameduck/core @lameduck/keeper` leaves it: `server.js`, the core package,
 * and an executable `node_modules/.bin/lameduck` with the published bin's `#!/usr/bin/env node` that
 * runs the bin's TypeScript source (with {@link nodeOptions}), so no build is needed.
 */
function appDir(root: string): string {
  const dir = path.join(root, 'app');
  fs.mkdirSync(path.join(dir, 'node_modules/.bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules/@lameduck'));
  fs.symlinkSync(path.join(repoDir, 'packages/core'), path.join(dir, 'node_modules/@lameduck/core'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  fs.writeFileSync(
    path.join(dir, 'node_modules/.bin/lameduck'),
    `#!/usr/bin/env node\nimport(${JSON.stringify(keeperBinSource())});\n`,
    { mode: 0o755 },
  );
  fs.copyFileSync(path.join(here, 'server.js'), path.join(dir, 'server.js'));
  return dir;
}

/** Node flags that let every node process of a launch run TypeScript sources, from any directory. */
function nodeOptions(): string {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return `--conditions=@lameduck/source --import=${pathToFileURL(tsx).href}`;
}

/** The last value of `key` in a unit (a key may repeat; backslash continuations joined). */
function value(text: string, key: string): string {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n');
  const line = lines.findLast((l) => l.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`no ${key}= in the unit`);
  return line.slice(key.length + 1).trim();
}

/** The unit's `Environment=` assignments. */
function environment(text: string): Record<string, string> {
  return Object.fromEntries(
    value(text, 'Environment')
      .split(/\s+/)
      .map((a) => a.split('=', 2)),
  );
}

/** A systemd time span (`25s`, `1min 30s`, `500ms`) in milliseconds. */
function ms(span: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, sec: 1_000, min: 60_000, m: 60_000 };
  let total = 0;
  for (const [, n, u = 's'] of span.matchAll(/(\d+)\s*([a-z]*)/g))
    total += Number(n) * (units[u] ?? Number.NaN);
  return total;
}

/** The example paths mapped onto the test's, then split into words as systemd does for these lines. */
function words(line: string, map: Record<string, string>): string[] {
  let mapped = line;
  for (const [from, to] of Object.entries(map)) mapped = mapped.replaceAll(from, to);
  return mapped.split(/\s+/).filter(Boolean);
}

function get(port: number): Promise<{ status?: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

/** Runs a command to completion (ExecReload); resolves its exit code and output. */
function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0] ?? '', argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d) => {
      output += d;
    });
    p.stderr.on('data', (d) => {
      output += d;
    });
    p.on('close', (code) => resolve({ code, output }));
  });
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

async function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-systemd-'));
  cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const app = appDir(root);
  const runDir = path.join(root, 'run');
  fs.mkdirSync(runDir);
  const [port = 0] = await freePorts(1);
  return {
    root,
    app,
    port,
    map: { '/srv/myapp': app, '/run/myapp': runDir, '/usr/bin/node': process.execPath },
    env: { ...process.env, NODE_OPTIONS: nodeOptions(), TMPDIR: runDir },
  };
}

function started(child: Child): Child {
  cleanup.push(() => child.kill());
  return child;
}

const verify = binarySuite('systemd-analyze', 'systemd');
const activate = binarySuite('systemd-socket-activate', 'systemd');
const python = binarySuite('python3', 'python3-minimal');

/**
 * A stand-in for systemd's notification socket (`NOTIFY_SOCKET`), where a `Type=notify` service says
 * READY=1: a unix datagram socket, which node cannot open, so a few lines of Python hold it and print
 * each message they receive as one line.
 */
async function notifySocket(dir: string): Promise<{ path: string; messages: Child }> {
  if (python.file === undefined) throw new Error(python.missing);
  const socketPath = path.join(dir, 'notify.sock');
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    "print('bound', flush=True)",
    'while True:',
    "    print(s.recv(4096).decode().replace('\\n', ' '), flush=True)",
  ].join('\n');
  const messages = started(new Child(python.file, ['-c', script, socketPath]));
  await messages.line('bound');
  return { path: socketPath, messages };
}

describe('the systemd units', () => {
  it.skipIf(verify.skip)(`pass ${verify.title} verify, with no warning`, async () => {
    if (verify.file === undefined) throw new Error(verify.missing);
    const { app, map } = await setup();
    const dir = path.dirname(app);
    const names = ['lameduck.socket', 'lameduck.service', 'lameduck-plain.service'];
    for (const name of names) {
      let text = unit(name);
      for (const [from, to] of Object.entries(map)) text = text.replaceAll(from, to);
      fs.writeFileSync(path.join(dir, name), text);
    }
    // verify exits 0 on an unknown key or a bad value and only warns: any output is a failure here.
    const result = await run([verify.file, 'verify', ...names.map((n) => `./${n}`)], process.env, dir);
    expect(result).toEqual({ code: 0, output: '' });
  });

  it('give every drain its time: TimeoutStopSec > the app timeout + its hook budget + 1 s', () => {
    for (const name of ['lameduck.service', 'lameduck-plain.service']) {
      const text = unit(name);
      const env = environment(text);
      // server.js registers one after-drain hook, bounded by HOOK_TIMEOUT: that is its hook budget.
      const worker = Number(env.SHUTDOWN_TIMEOUT) + Number(env.HOOK_TIMEOUT) + 1_000;
      expect(worker, name).toBeGreaterThan(1_000);
      expect(value(text, 'KillSignal'), name).toBe('SIGTERM');
      const stop = ms(value(text, 'TimeoutStopSec'));
      const drain = /--drain-timeout (\S+)/.exec(value(text, 'ExecStart'))?.[1];
      if (drain === undefined) {
        expect(stop, name).toBeGreaterThan(worker);
      } else {
        // Under the keeper: the worker's drain fits in --drain-timeout, which fits in TimeoutStopSec.
        expect(ms(drain), name).toBeGreaterThan(worker);
        expect(stop, name).toBeGreaterThan(ms(drain));
        expect(value(text, 'KillMode'), name).toBe('mixed');
      }
    }
    const keeper = value(unit('lameduck.service'), 'ExecStart');
    expect(keeper).not.toMatch(/--listen/); // the socket comes from lameduck.socket
    expect(keeper).not.toMatch(/\bnpx\b|\bnpm\b/);
    expect(value(unit('lameduck.socket'), 'FileDescriptorName')).toBe('http');
  });

  it.skipIf(activate.skip || python.skip)(
    `lameduck.service under lameduck.socket (${activate.title}, ${python.title}): notifies READY=1, serves, reloads with ExecReload, drains on KillSignal`,
    async () => {
      if (activate.file === undefined) throw new Error(activate.missing);
      const { app, port, map, env, root } = await setup();
      const notify = await notifySocket(root);
      const service = unit('lameduck.service');
      const socket = unit('lameduck.socket');
      expect(value(socket, 'ListenStream')).toBe('8080');
      // Binds like the socket unit and execs ExecStart on the first connection, passing the socket as
      // descriptor 3 with LISTEN_FDS and LISTEN_FDNAMES; the environment is only what -E names.
      const keeper = started(
        new Child(
          activate.file,
          [
            '-l',
            `127.0.0.1:${port}`,
            `--fdname=${value(socket, 'FileDescriptorName')}`,
            ...Object.entries(environment(service)).flatMap(([k, v]) => ['-E', `${k}=${v}`]),
            ...['NODE_OPTIONS', 'TMPDIR', 'PATH'].flatMap((v) => ['-E', v]),
            '-E',
            `NOTIFY_SOCKET=${notify.path}`,
            ...words(value(service, 'ExecStart'), map),
          ],
          { env, cwd: words(value(service, 'WorkingDirectory'), map)[0] },
        ),
      );
      await keeper.match(/Listening on/);
      // The first connection starts the keeper and waits in the backlog until a worker accepts it.
      const first = await get(port);
      expect(first.status).toBe(200);
      // Type=notify: what `systemctl start` waits for, sent once the first generation serves.
      await notify.messages.match(/READY=1/, 'stdout');
      await keeper.json((l) => l.msg === 'generation serving');
      expect(await keeper.json((l) => l.msg === 'socket held')).toMatchObject({
        socket: 'http',
        origin: 'systemd',
      });

      const reload = await run(words(value(service, 'ExecReload'), map), env, app);
      expect(reload, reload.output).toMatchObject({ code: 0 });
      await keeper.json((l) => l.msg === 'reload done');
      const after = await get(port);
      expect(after.status).toBe(200);
      expect(after.body).not.toBe(first.body); // a worker of the new generation

      keeper.signal(value(service, 'KillSignal') as NodeJS.Signals);
      const stopping = performance.now();
      expect(await keeper.exited).toEqual({ code: 0, signal: null });
      expect(performance.now() - stopping).toBeLessThan(ms(value(service, 'TimeoutStopSec')));
    },
  );

  it.skipIf(python.skip)(
    `lameduck-plain.service (${python.title}): notifies READY=1, serves, KillSignal drains it, exit 0 within TimeoutStopSec`,
    async () => {
      const { app, port, map, env, root } = await setup();
      const notify = await notifySocket(root);
      const service = unit('lameduck-plain.service');
      const argv = words(value(service, 'ExecStart'), map);
      const server = started(
        new Child(argv[0] ?? '', argv.slice(1), {
          env: { ...env, ...environment(service), PORT: String(port), NOTIFY_SOCKET: notify.path },
          cwd: words(value(service, 'WorkingDirectory'), map)[0] ?? app,
        }),
      );
      // Type=notify: ready({ systemd: true }) runs systemd-notify --ready once the server listens.
      await notify.messages.match(/READY=1/, 'stdout');
      expect(await server.line('serving on port ')).toBe(`${port} (pid ${server.pid})`);
      expect(await get(port)).toEqual({ status: 200, body: `hello from ${server.pid}\n` });
      server.signal(value(service, 'KillSignal') as NodeJS.Signals);
      const stopping = performance.now();
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(performance.now() - stopping).toBeLessThan(ms(value(service, 'TimeoutStopSec')));
      expect(server.stderr()).toMatch(/hook done hook=flush[\s\S]*shutdown complete.*exitCode=0/);
    },
  );
});
