// Review of 1bb1b83 (the exit policy moved from the lifecycle to process-exit.ts): a signal that arrives
// while a manual shutdown runs still makes the process exit after that shutdown's report, with its code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, spawnSource } from '@lameduck/testkit';
import { afterEach, describe, expect, it } from 'vitest';

const core = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const children: Child[] = [];
let dir: string | undefined;
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * A process that starts a manual shutdown at once; its after-drain hook waits for a line on stdin, and a
 * ref'd interval (an application's pool, say) keeps the process alive: only an exit ends it.
 */
function spawnManualShutdown(options: Record<string, unknown>): Child {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-review-'));
  const file = path.join(dir, 'manual.ts');
  fs.writeFileSync(
    file,
    `import { createLameduck } from ${JSON.stringify(core)};
const lameduck = createLameduck({ logger: false, hookTimeout: 60_000, ...${JSON.stringify(options)} });
setInterval(() => {}, 1_000);
lameduck.onShutdown('wait-for-stdin', () => new Promise<void>((resolve) => {
  process.stdin.once('data', () => { process.stdin.pause(); resolve(); });
}));
process.on('SIGTERM', () => process.stdout.write('got SIGTERM\\n'));
lameduck.on('forceExit', ({ exitCode }) => process.stdout.write('forceExit ' + exitCode + '\\n'));
lameduck.on('report', (r) => process.stdout.write('report ' + r.reason + ' ' + r.exitCode + '\\n'));
process.stdout.write('hook waiting\\n');
void lameduck.shutdown('manual');
`,
  );
  const child = spawnSource(file);
  children.push(child);
  return child;
}

describe('review: exit policy', () => {
  it('a signal during a manual shutdown exits the process once that shutdown reported, with its code', async () => {
    const child = spawnManualShutdown({});
    await child.line('hook waiting');
    child.process.kill('SIGTERM');
    await child.line('got SIGTERM');
    child.process.stdin?.write('go\n');
    expect(await child.line('report ')).toBe('manual 0');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('a second signal during a manual shutdown exits at once with 128 + its number, without a report', async () => {
    const child = spawnManualShutdown({});
    await child.line('hook waiting');
    child.process.kill('SIGTERM');
    await child.line('got SIGTERM');
    child.process.kill('SIGINT');
    expect(await child.line('forceExit ')).toBe('130');
    expect(await child.exited).toEqual({ code: 130, signal: null });
    expect(child.stdout()).not.toMatch(/^report /m);
  });
});
