// Helpers for the tests of real launch paths: free ports, an application directory laid out the way
// npm installs one, the launch forms the restart guide documents, and PID namespaces.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { appPath, binPath, coreDir, keeperDir, type Proc } from './helpers.js';

export const repoDir = path.resolve(keeperDir, '../..');
export const guidePath = path.join(repoDir, 'docs/restart.md');
export const exampleDir = path.join(repoDir, 'examples/docker');
export const dockerfilePath = path.join(exampleDir, 'Dockerfile');

export { freePort } from './helpers.js';

/**
 * `NODE_OPTIONS` that let every node process of a launch (npx, the keeper, its workers) run the
 * TypeScript sources: the source export condition and tsx, by absolute URL so that it resolves from
 * any working directory.
 */
export function sourceNodeOptions(): string {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return `--conditions=@lameduck/source --import=${pathToFileURL(tsx).href}`;
}

/**
 * An application directory as `npm install @lameduck/core @lameduck/keeper` leaves it:
 * `node_modules/@lameduck/core`, `node_modules/@lameduck/keeper` (this package) and an executable
 * `node_modules/.bin/lameduck` whose first line is the published
 * bin's `#!/usr/bin/env node`, so that `env` execs node and the PID a supervisor started is the
 * keeper's. Here the bin runs the TypeScript source of the bin (with {@link sourceNodeOptions}), so the
 * tests do not depend on a build. `server.js` (with `app.js`) is the Docker example's app, or the
 * restart suite's fixture app where a test needs its knobs.
 */
export function appDir(root: string, server: 'example' | 'fixture' = 'example'): string {
  const dir = path.join(root, 'app');
  fs.mkdirSync(path.join(dir, 'node_modules/.bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules/@lameduck'), { recursive: true });
  fs.symlinkSync(coreDir, path.join(dir, 'node_modules/@lameduck/core'));
  fs.symlinkSync(keeperDir, path.join(dir, 'node_modules/@lameduck/keeper'));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: 'myapp',
      private: true,
      type: 'module',
      dependencies: { '@lameduck/core': '*', '@lameduck/keeper': '*' },
    }),
  );
  const bin = path.join(dir, 'node_modules/.bin/lameduck');
  fs.writeFileSync(bin, `#!/usr/bin/env node\nimport(${JSON.stringify(binPath)});\n`, { mode: 0o755 });
  if (server === 'example') {
    for (const file of ['server.js', 'app.js'])
      fs.copyFileSync(path.join(exampleDir, file), path.join(dir, file));
  } else fs.writeFileSync(path.join(dir, 'server.js'), `import ${JSON.stringify(appPath)};\n`);
  return dir;
}

/** The published bin starts with the shebang the stand-in above copies, and package.json points at it. */
export function publishedBin(): { shebang: string; target: string } {
  const pkg = JSON.parse(fs.readFileSync(path.join(keeperDir, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const source = fs.readFileSync(binPath, 'utf8');
  return { shebang: source.split('\n')[0] ?? '', target: pkg.bin.lameduck ?? '' };
}

/** The fenced block that follows `<!-- launch-form: NAME -->` in the restart guide. */
export function guideBlock(name: string): string {
  const guide = fs.readFileSync(guidePath, 'utf8');
  const marker = `<!-- launch-form: ${name} -->`;
  const at = guide.indexOf(marker);
  if (at === -1) throw new Error(`docs/restart.md has no ${marker}`);
  const block = /```[^\n]*\n([\s\S]*?)```/.exec(guide.slice(at + marker.length));
  if (block === null) throw new Error(`no code block after ${marker}`);
  return block[1] ?? '';
}

/** Every `<!-- launch-form: NAME -->` of the guide. */
export function guideForms(): string[] {
  const guide = fs.readFileSync(guidePath, 'utf8');
  return [...guide.matchAll(/<!-- launch-form: ([\w-]+) -->/g)].map((m) => m[1] ?? '');
}

/** A key of a systemd unit or supervisord section, with backslash line continuations joined. */
export function unitValue(block: string, key: string): string {
  const joined = block.replace(/\\\n\s*/g, ' ');
  const line = joined.split('\n').find((l) => l.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`no ${key}= in\n${block}`);
  return line.slice(key.length + 1).trim();
}

/** The JSON array of a Dockerfile instruction (exec form). */
export function dockerExec(dockerfile: string, instruction: string): string[] {
  const line = dockerfile.split('\n').findLast((l) => l.startsWith(`${instruction} `));
  if (line === undefined) throw new Error(`no ${instruction} in the Dockerfile`);
  return JSON.parse(line.slice(instruction.length + 1)) as string[];
}

/** The value of the last `INSTRUCTION value` of a Dockerfile. */
export function dockerValue(dockerfile: string, instruction: string): string {
  const line = dockerfile.split('\n').findLast((l) => l.startsWith(`${instruction} `));
  if (line === undefined) throw new Error(`no ${instruction} in the Dockerfile`);
  return line.slice(instruction.length + 1).trim();
}

/**
 * Splits a command line the way systemd and supervisord do for these lines (words separated by
 * blanks; the documented lines use no quotes) and maps the guide's example paths onto the test's.
 */
export function words(line: string, map: Record<string, string>): string[] {
  return mapPaths(line, map).split(/\s+/).filter(Boolean);
}

/** Replaces each key of `map` in one pass (a replacement is never matched again by another key). */
export function mapPaths(text: string, map: Record<string, string>): string {
  const keys = Object.keys(map).sort((a, b) => b.length - a.length);
  if (keys.length === 0) return text;
  const pattern = new RegExp(keys.map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g');
  return text.replace(pattern, (k) => map[k] ?? k);
}

/** The host PID of the process `unshare --fork` started: PID 1 of the new namespace. */
export function namespaceInit(unshare: Proc): number {
  const children = fs.readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim();
  const pid = Number(children.split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`unshare ${unshare.pid} has no child yet`);
  return pid;
}

/** Whether unshare can make a PID namespace here (root, or a kernel that allows it). */
export function canUnshare(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    fs.accessSync('/usr/bin/unshare', fs.constants.X_OK);
  } catch {
    return false;
  }
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The state letter of a process in /proc (Z for a zombie), or undefined once it is gone (reaped). */
export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** The host PID of the process whose command line contains `needle` (a unique temporary path). */
export function findProcess(needle: string): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) return Number(entry);
    } catch {}
  }
  return undefined;
}

/**
 * Polls `check` until it returns a value (a condition in another process's /proc entry has no event to
 * await). The limit is a safety net: reaching it fails the test with `what`.
 */
export async function until<T>(what: string, check: () => T | undefined, ms = 30_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
