// The launch forms of docs/restart.md, run as the guide writes them: each form's command line is read
// from the guide (the fenced block after `<!-- launch-form: NAME -->`), started the way its launcher
// starts it (systemd and supervisord exec the words directly; a terminal runs the line in the app's
// directory), then reloaded under continuous keep-alive load and stopped with the signal its launcher
// sends. Only the example paths change: /srv/myapp is an app directory laid out as npm installs it,
// /run/myapp a temporary directory, /usr/bin/node this node, and port 8080 a free port.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  collectPids,
  get,
  killAfterEach,
  type LoadStats,
  load,
  Proc,
  tmpDir,
  writeConfig,
} from './helpers.js';
import {
  appDir,
  dockerExec,
  dockerfilePath,
  freePort,
  guideBlock,
  guideForms,
  guidePath,
  mapPaths,
  publishedBin,
  sourceNodeOptions,
  unitValue,
  words,
} from './launch.js';

const seenPids = killAfterEach();

interface Env {
  app: string;
  run: string;
  port: number;
  map: Record<string, string>;
  env: NodeJS.ProcessEnv;
}

async function setup(server: 'example' | 'fixture' = 'example'): Promise<Env> {
  const root = tmpDir();
  const app = appDir(root, server);
  const run = path.join(root, 'run');
  fs.mkdirSync(run);
  const port = await freePort();
  return {
    app,
    run,
    port,
    map: { '/srv/myapp': app, '/run/myapp': run, '/usr/bin/node': process.execPath, '8080': String(port) },
    // TMPDIR: the default control socket (<tmpdir>/lameduck-<uid>.sock) is this test's own.
    env: { ...process.env, NODE_OPTIONS: sourceNodeOptions(), TMPDIR: run, PORT: String(port) },
  };
}

function start(argv: readonly string[], e: Env, cwd = e.app): Proc {
  const p = new Proc(argv[0] ?? '', argv.slice(1), e.env, [], cwd);
  collectPids(p, seenPids);
  return p;
}

/** Runs a command (a reload command of the guide) to completion; resolves its exit code and output. */
async function runCommand(
  argv: readonly string[],
  e: Env,
  cwd = e.app,
): Promise<{ code: number | null; output: string }> {
  const p = new Proc(argv[0] ?? '', argv.slice(1), e.env, [], cwd);
  const { code } = await p.exited;
  await p.closed;
  return { code, output: p.output };
}

/**
 * Load through a reload: keep-alive traffic starts once the service answers, the reload runs, and the
 * load stops once the old generation drained. Every request must succeed.
 */
async function reloadUnderLoad(
  keeper: Proc,
  port: number,
  reload: () => Promise<void>,
  activated = false,
): Promise<LoadStats> {
  // Socket activation starts the keeper on the first connection, which waits in the backlog meanwhile.
  if (!activated) await keeper.msg('generation serving');
  expect((await get(port)).status).toBe(200);
  await keeper.msg('generation serving');
  const traffic = load(port, ['hello\n']);
  await traffic.until(100);
  await reload();
  await keeper.msg('reload done', (l) => l.gen === 2);
  await keeper.msg('generation drained', (l) => l.gen === 1);
  const stats = await traffic.stop();
  expect(stats.errors).toEqual({});
  expect(stats.failed).toBe(0);
  expect(stats.ok).toBeGreaterThan(100);
  return stats;
}

describe('the launch forms of the restart guide', () => {
  it('shows only forms these tests run, none through npx or npm, and the published bin execs node', () => {
    expect(new Set(guideForms())).toEqual(
      new Set([
        'terminal',
        'exec-script',
        'systemd-keeper',
        'systemd-socket-keeper',
        'docker',
        'supervisord',
        'systemd-socket-alone',
      ]),
    );
    // Every code block that starts something (a keeper, a unit, a container, a program) is one of them.
    const guide = fs.readFileSync(guidePath, 'utf8');
    for (const m of guide.matchAll(/(<!-- launch-form: [\w-]+ -->\n)?```[^\n]*\n([\s\S]*?)```/g)) {
      const body = m[2] ?? '';
      const launches = /lameduck run|ExecStart=|^CMD |^command=/m.test(body);
      if (launches) expect(m[1], `an untested launch form in the guide:\n${body}`).toBeDefined();
    }
    for (const form of guideForms()) expect(guideBlock(form)).not.toMatch(/\bnpx\b|\bnpm (start|run|exec)\b/);
    // The guide's Docker lines are the example Dockerfile's.
    const dockerfile = fs.readFileSync(dockerfilePath, 'utf8');
    const block = guideBlock('docker');
    expect(dockerExec(block, 'ENTRYPOINT')).toEqual(dockerExec(dockerfile, 'ENTRYPOINT'));
    expect(dockerExec(block, 'CMD')).toEqual(dockerExec(dockerfile, 'CMD'));
    // The stand-in bin of these tests has the published bin's first line: env execs node, same PID.
    expect(publishedBin()).toEqual({ shebang: '#!/usr/bin/env node', target: './dist/esm/bin/lameduck.js' });
  });

  // What the guide says of npx, shown: npm exec runs the keeper through `sh -c`, and a signal to npx's
  // PID (what a supervisor sends) ends npx while the keeper goes on, orphaned, neither stopping nor
  // reloading.
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`why not npx: ${signal} to npx ends npx (${code}) and never reaches the keeper`, async () => {
      const e = await setup();
      e.env.npm_config_update_notifier = 'false';
      e.env.npm_config_offline = 'true';
      const control = path.join(e.run, 'c.sock');
      const npx = start(
        [
          'npx',
          'lameduck',
          'run',
          '--control',
          control,
          '--listen',
          `127.0.0.1:${e.port}`,
          '--',
          'node',
          'server.js',
        ],
        e,
      );
      await npx.msg('generation serving');
      const keeperPid = Number((await npx.msg('keeper started')).keeper);
      expect(keeperPid).not.toBe(npx.pid);
      npx.signal(signal);
      const exit = await npx.exited;
      expect(exit.code === code || exit.signal === signal, JSON.stringify(exit)).toBe(true);
      const status = await runCommand(
        ['node_modules/.bin/lameduck', 'status', '--control', control, '--json'],
        e,
      );
      const keeper = JSON.parse(status.output).keeper;
      expect(keeper).toMatchObject({ pid: keeperPid, state: 'serving', reloads: { done: 0, rolledBack: 0 } });
      expect((await get(e.port)).status).toBe(200);
      process.kill(keeperPid, 'SIGTERM');
      await npx.closed;
    });
  }

  it('terminal: the installed binary; reload with `lameduck reload`, Ctrl-C stops it (exit 0)', async () => {
    const e = await setup();
    const [runLine, reloadLine] = guideBlock('terminal').split('\n');
    const keeper = start(words(runLine ?? '', e.map), e);
    await reloadUnderLoad(keeper, e.port, async () => {
      const r = await runCommand(words((reloadLine ?? '').replace(/#.*/, ''), e.map), e);
      expect(r.code, r.output).toBe(0);
    });
    expect((await keeper.msg('keeper started')).keeper).toBe(keeper.pid);
    // Ctrl-C: SIGINT to the terminal's foreground process group, the keeper's (its workers have their own).
    process.kill(-keeper.pid, 'SIGINT');
    expect((await keeper.exited).code).toBe(0);
  });

  it('exec script: the keeper takes the script PID; SIGHUP reloads, SIGTERM drains (exit 0)', async () => {
    const e = await setup();
    const script = path.join(e.app, 'start.sh');
    fs.writeFileSync(script, map(guideBlock('exec-script'), e), { mode: 0o755 });
    const keeper = start([script], e);
    await reloadUnderLoad(keeper, e.port, async () => keeper.signal('SIGHUP'));
    await keeperStopsOnSigterm(keeper);
  });

  it('systemd unit: ExecStart as systemd execs it; ExecReload reloads, SIGTERM (KillMode=mixed) drains', async () => {
    const e = await setup();
    const unit = guideBlock('systemd-keeper');
    const keeper = start(
      words(unitValue(unit, 'ExecStart'), e.map),
      e,
      map(unitValue(unit, 'WorkingDirectory'), e),
    );
    await reloadUnderLoad(keeper, e.port, async () => {
      const r = await runCommand(words(unitValue(unit, 'ExecReload'), e.map), e);
      expect(r.code, r.output).toBe(0);
    });
    await keeperStopsOnSigterm(keeper);
  });

  it('systemd socket unit with the keeper (systemd-socket-activate): reload and stop', async () => {
    const e = await setup();
    const unit = guideBlock('systemd-socket-keeper');
    expect(unitValue(unit, 'ListenStream')).toBe('8080');
    // systemd-socket-activate binds like the socket unit and execs ExecStart on the first connection.
    const launcher = start(
      [
        'systemd-socket-activate',
        '-l',
        `127.0.0.1:${e.port}`,
        `--fdname=${unitValue(unit, 'FileDescriptorName')}`,
        ...['NODE_OPTIONS', 'TMPDIR', 'PORT', 'PATH'].flatMap((v) => ['-E', v]),
        ...words(unitValue(unit, 'ExecStart'), e.map),
      ],
      e,
      map(unitValue(unit, 'WorkingDirectory'), e),
    );
    await until(launcher, 'Listening on');
    await reloadUnderLoad(
      launcher,
      e.port,
      async () => {
        const r = await runCommand(words(unitValue(unit, 'ExecReload'), e.map), e);
        expect(r.code, r.output).toBe(0);
      },
      true,
    );
    expect(await launcher.msg('socket held')).toMatchObject({ socket: 'http', origin: 'systemd', fd: 3 });
    launcher.signal('SIGTERM');
    expect((await launcher.exited).code).toBe(0);
  });

  it('systemd socket unit without a keeper: the app self-upgrades on ExecReload and drains on SIGTERM', async () => {
    const e = await setup('fixture');
    const unit = guideBlock('systemd-socket-alone');
    const pidFile = map(unitValue(unit, 'PIDFile'), e);
    const config = path.join(e.run, 'app.json');
    // The app of the guide: listen on 'http' without autoReady, bindRestart(SIGHUP, pidFile), ready({ systemd }).
    writeConfig(config, {
      name: unitValue(unit, 'FileDescriptorName'),
      message: 'hello',
      selfUpgrade: true,
      pidFile,
      systemd: true,
    });
    e.env.APP_CONFIG = config;
    const launcher = start(
      [
        'systemd-socket-activate',
        '-l',
        `127.0.0.1:${e.port}`,
        `--fdname=${unitValue(unit, 'FileDescriptorName')}`,
        ...['NODE_OPTIONS', 'APP_CONFIG', 'PATH'].flatMap((v) => ['-E', v]),
        ...words(unitValue(unit, 'ExecStart'), e.map),
      ],
      e,
      map(unitValue(unit, 'WorkingDirectory'), e),
    );
    await until(launcher, 'Listening on');
    expect((await get(e.port)).status).toBe(200);
    const mainPid = () => Number(fs.readFileSync(pidFile, 'utf8').trim());
    await launcher.waitFor((l) => l.app === 'listening');
    expect(mainPid()).toBe(launcher.pid);
    const traffic = load(e.port, ['hello\n']);
    await traffic.until(100);
    // ExecReload=/bin/kill -HUP $MAINPID, with $MAINPID read from PIDFile= as systemd does.
    const reload = words(unitValue(unit, 'ExecReload').replace('$MAINPID', String(mainPid())), e.map);
    expect((await runCommand(reload, e)).code).toBe(0);
    const taken = await launcher.waitFor((l) => l.app === 'restart' && String(l.msg).includes('took over'));
    // The old process drained and exited 0; the new one wrote the PID file.
    await launcher.waitFor((l) => l.app === 'exit' && l.pid === launcher.pid && l.code === 0);
    const next = mainPid();
    expect(next).toBe(taken.child);
    const stats = await traffic.stop();
    expect(stats.errors).toEqual({});
    expect(stats.failed).toBe(0);
    seenPids.add(next);
    // systemd stops the unit with SIGTERM to $MAINPID: it drains and exits 0.
    process.kill(next, 'SIGTERM');
    await launcher.waitFor((l) => l.app === 'exit' && l.pid === next && l.code === 0);
    await launcher.closed;
  });

  it('supervisord: command= as supervisord execs it; SIGHUP reloads, stopsignal=TERM drains (exit 0)', async () => {
    const e = await setup();
    const program = guideBlock('supervisord');
    const keeper = start(
      words(unitValue(program, 'command'), e.map),
      e,
      map(unitValue(program, 'directory'), e),
    );
    await reloadUnderLoad(keeper, e.port, async () => keeper.signal('SIGHUP'));
    expect(unitValue(program, 'stopsignal')).toBe('TERM');
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });
});

/** The launcher started the keeper itself (no shell in between), and SIGTERM, as it sends it, drains: exit 0. */
async function keeperStopsOnSigterm(keeper: Proc): Promise<void> {
  expect((await keeper.msg('keeper started')).keeper).toBe(keeper.pid);
  keeper.signal('SIGTERM');
  expect((await keeper.exited).code).toBe(0);
}

function map(text: string, e: Env): string {
  return mapPaths(text, e.map);
}

/** Resolves once the launcher printed `text` (systemd-socket-activate's "Listening on" line). */
function until(p: Proc, text: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (p.output.includes(text)) {
        p.child.stderr?.removeListener('data', check);
        resolve();
      }
    };
    p.child.stderr?.on('data', check);
    check();
  });
}
