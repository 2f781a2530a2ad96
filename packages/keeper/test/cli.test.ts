import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { cli, get, keeperDir, killAfterEach, startKeeper, tmpDir, writeConfig } from './helpers.js';

const seenPids = killAfterEach();

/** Runs the CLI in this process (the bin only adds process.exit): fast enough for a matrix of cases. */
async function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    ({
      write(chunk: string) {
        append(chunk);
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  const code = await main(args, {
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
    env: {},
    version: '1.2.3',
  });
  return { code, stdout, stderr };
}

describe('the lameduck command line', () => {
  it('has --help for every command and --version (through the bin)', async () => {
    const version = (
      JSON.parse(fs.readFileSync(path.join(keeperDir, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const [v, help, usage] = await Promise.all([
      cli(['--version']),
      cli(['run', '--help']),
      cli(['run', '--listen', '--', 'node', 'x']),
    ]);
    expect(v).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: lameduck run/);
    // The case from the issue: one line and exit 2, not node's stack trace and 70.
    expect(usage).toMatchObject({
      code: 2,
      stderr: 'lameduck: --listen needs a value, for example --listen :8080 (see lameduck run --help)\n',
    });

    expect(await run(['--version'])).toMatchObject({ code: 0, stdout: '1.2.3\n' });
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^lameduck: zero-downtime restarts/);
    }
    for (const [args, usage] of [
      [['run', '--help'], 'Usage: lameduck run'],
      [['run', '--listen', ':8080', '-h'], 'Usage: lameduck run'],
      [['help', 'run'], 'Usage: lameduck run'],
      [['reload', '--help'], 'Usage: lameduck reload'],
      [['status', '--help'], 'Usage: lameduck status'],
    ] as const) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.startsWith(usage), r.stdout).toBe(true);
    }
    // What a worker must do, and the address forms of the README.
    const runHelp = (await run(['run', '--help'])).stdout;
    expect(runHelp).toContain('lameduck.listen(server, 8080)');
    expect(runHelp).toContain('LISTEN_FDS');
    expect(runHelp).toContain('--listen :8080');
    expect(runHelp).toMatch(/not npx or npm start/);
    // After --, --help belongs to the worker's command.
    const worker = await run(['run', '--', 'node', '--help']);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/^lameduck: nothing to listen on/);
  });

  it('reports every argument error on one line and exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--listen', '--', 'node', 'x'], /--listen needs a value, for example --listen :8080/],
      [['run', '--listen'], /--listen needs a value/],
      [['run', '--listen', '--workers', '2', '--', 'node'], /--listen needs a value/],
      [['run', '--workers', 'many', '--', 'node'], /--workers must be a whole number/],
      [['run', '--settle', 'forever', '--', 'node'], /--settle must be a duration/],
      [['run', '--listen', 'nowhere', '--', 'node'], /is not an address such as :8080/],
      [['run', '--frobnicate', '--', 'node'], /lameduck run has no option --frobnicate/],
      [['run', '--listen', '127.0.0.1:0'], /run needs a command after --/],
      [['reload', 'now'], /lameduck reload takes no argument "now"/],
      [['status', '--json=yes'], /--json takes no value/],
      [['status', '--control'], /--control needs a value/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      const what = `lameduck ${args.join(' ')}: ${r.stderr}`;
      expect(r.code, what).toBe(2);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).toMatch(/^lameduck: [^\n]* \(see lameduck( \w+)? --help\)\n$/);
    }
  });

  it('logs name each socket by its --listen name or its address, never "unknown"', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'app.json');
    writeConfig(config, { message: 'hello', port: 0, host: '127.0.0.1' });
    const keeper = startKeeper(
      ['--listen', '127.0.0.1:0', '--control', path.join(dir, 'c.sock'), '--settle', '100ms'],
      config,
    );
    const held = await keeper.msg('socket held');
    expect(held.socket).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(held.socket).toBe(held.address);
    await keeper.msg('generation serving');
    const status = await cli(['status', '--control', path.join(dir, 'c.sock')]);
    expect(status.stdout).toContain(`socket ${held.address}  (bound, fd ${held.fd})`);
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
    const keeperLines = keeper.lines.filter((l) => l.keeper === keeper.pid);
    expect(JSON.stringify(keeperLines)).not.toContain('unknown');
    expect(status.stdout).not.toContain('unknown');
  });

  it('status shows the drain progress of a draining generation', async () => {
    const dir = tmpDir();
    const config = path.join(dir, 'app.json');
    const control = path.join(dir, 'c.sock');
    const release = path.join(dir, 'release');
    writeConfig(config, { name: 'http', message: 'hello', hold: release, drainTimeout: 120_000 });
    const keeper = startKeeper(
      ['--listen', 'http=127.0.0.1:0', '--control', control, '--settle', '100ms', '--drain-timeout', '120s'],
      config,
    );
    const held = await keeper.msg('socket held');
    const port = Number(/:(\d+)$/.exec(String(held.address))?.[1]);
    await keeper.msg('generation serving');
    for (const l of keeper.lines) if (typeof l.pid === 'number') seenPids.add(l.pid);
    // A request held in flight in generation 1 keeps its drain open after the reload.
    const inFlight = get(port, undefined, '/hold');
    await keeper.waitFor((l) => l.app === 'request held');
    expect((await cli(['reload', '--control', control])).code).toBe(0);
    await keeper.msg('generation draining', (l) => l.gen === 1);

    const json = JSON.parse((await cli(['status', '--control', control, '--json'])).stdout);
    const old = json.generations.find((g: { id: number }) => g.id === 1);
    expect(old).toMatchObject({ state: 'draining', inFlight: 1, connections: 1 });
    expect(old.drainingMs).toBeGreaterThanOrEqual(0);
    expect(old.workers[0]).toMatchObject({ state: 'draining', inFlight: 1, connections: 1 });
    const text = (await cli(['status', '--control', control])).stdout;
    expect(text).toMatch(
      /generation 1 {2}draining .* draining for \d+\.\ds: 1 request in flight, 1 connection open/,
    );

    fs.writeFileSync(release, '');
    expect((await inFlight).status).toBe(200);
    await keeper.msg('generation drained', (l) => l.gen === 1);
    keeper.signal('SIGTERM');
    expect((await keeper.exited).code).toBe(0);
  });
});
