// `npm run demo` as a newcomer runs it, piped (not a terminal): it finishes, exits 0 (lameduck lost
// nothing in either run), prints every section in plain text and writes a well-formed SVG timeline.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
let demo: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (demo !== undefined && demo.exitCode === null && demo.signalCode === null) {
    // The demo stops its servers and the keeper on SIGTERM.
    const exited = new Promise((resolve) => demo?.once('exit', resolve));
    demo.kill('SIGTERM');
    await exited;
  }
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A minimal XML check: every tag is closed in order, nothing but tags contains `<`, attributes are
 * quoted, and one root `svg` element holds everything. Returns the element names in document order.
 */
function parseXml(text: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt === -1) {
      expect(text.slice(i).trim(), 'text after the root element').toBe('');
      break;
    }
    tag.lastIndex = lt;
    const m = tag.exec(text);
    expect(m, `a malformed tag at ${text.slice(lt, lt + 60)}`).not.toBeNull();
    const [whole, closing, name, , selfClosing] = m!;
    if (closing === '/') {
      expect(open.pop(), `</${name}> closes the element that is open`).toBe(name);
    } else {
      if (open.length === 0) roots++;
      names.push(name!);
      if (selfClosing !== '/') open.push(name!);
    }
    i = lt + whole.length;
  }
  expect(open, 'elements left open').toEqual([]);
  expect(roots).toBe(1);
  return names;
}

it('runs a shutdown and a restart both ways, lameduck loses nothing, and the timeline is written', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-demo-test-'));
  const child = spawn(
    process.execPath,
    ['--conditions=@lameduck/source', '--import', 'tsx', path.join(root, 'examples/demo.ts')],
    { cwd: root, env: { ...process.env, DEMO_OUTPUT: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  demo = child;
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  // 'close', not 'exit': by then every line the demo printed has been read.
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const output = `${out}\nstderr:\n${err}`;

  expect(code, output).toBe(0);
  expect(out).toContain('a 503 with Retry-After on an open keep-alive socket is a clean answer');
  for (const section of [
    '━━ shutdown 1/2 · naive',
    '━━ shutdown 2/2 · lameduck',
    '━━ restart 1/2 · naive',
    '━━ restart 2/2 · lameduck',
    '━━ summary ━━',
  ]) {
    expect(out, output).toContain(section);
  }
  // Not a terminal: plain lines, no cursor movement or line rewriting.
  expect(out).not.toContain('\u001b');
  expect(out).not.toContain('\r');
  expect(out).toMatch(/^ {2}phase {2}│ reload: /m);
  // The summary rows of lameduck's runs: nothing reset, nothing else failed, nothing lost, and during
  // the restart nothing refused either (columns: ok, 503+RA, refused, reset, other, lost).
  expect(out).toMatch(/^ {2}shutdown · lameduck +\d+ +\d+ +\d+ +0 +0 +0$/m);
  expect(out).toMatch(/^ {2}restart · lameduck +[1-9]\d* +\d+ +0 +0 +0 +0$/m);
  expect(out).toContain('lameduck lost nothing in either run');

  const svgFile = path.join(dir, 'timeline.svg');
  expect(out).toContain(`timeline: ${svgFile}`);
  const svg = fs.readFileSync(svgFile, 'utf8');
  const names = parseXml(svg);
  expect(names[0]).toBe('svg');
  expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
  expect(names).toContain('title');
  // One line of 200s per run: two shutdowns, two restarts.
  expect(names.filter((n) => n === 'polyline')).toHaveLength(4);
  for (const title of ['naive: server.close() on SIGTERM', 'naive: stop, then start', 'the keeper reloads']) {
    expect(svg).toContain(title);
  }
}, 300_000);
