// lameduck's share of its server's CPU, from a CPU profile: the lameduck server of one stack runs once
// under `node --cpu-prof`, is warmed up, then loaded for a measured window, and the profile's samples of
// that window are attributed (attribute.ts). The profile goes to a temporary directory, removed after.
import fs from 'node:fs';
import type { SourceMapPayload } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { onCleanup, root } from '../child.js';
import { type Attribution, attribute, type CpuProfile } from './attribute.js';
import { type Stack, startLoad, startServer } from './slices.js';

// V8 samples every 1 ms by default: a 2 s window would give a share of 0.1–1 % a handful of samples.
// Asking for one every 100 µs (V8 manages one per 250–400 µs on a loaded 2-core VM) gives it dozens.
const INTERVAL_US = 100;

export async function profileLameduck(
  stack: Stack,
  options: { connections: number; warmupMs: number; ms: number },
): Promise<Attribution> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lameduck-cpuprofile-'));
  const removeDir = onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sourceMaps = path.join(dir, 'source-maps.json');
  const starting = [
    startServer(stack, 'lameduck', {
      nodeArgs: [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        `--cpu-prof-interval=${INTERVAL_US}`,
        // node keeps each module's source map (server.ts writes them out as it exits): tsx puts each
        // module on one line, so the profile's own line numbers say nothing.
        '--enable-source-maps',
      ],
      args: [sourceMaps],
    }),
    startLoad(options.connections),
  ] as const;
  try {
    const [server, load] = await Promise.all(starting);
    await load.slice(server, options.warmupMs);
    const window = await load.slice(server, options.ms);
    load.child.kill();
    // node writes the profile as the process exits; SIGTERM makes server.ts exit cleanly.
    await server.stop();
    const maps = JSON.parse(fs.readFileSync(sourceMaps, 'utf8')) as Record<string, SourceMapPayload>;
    return attribute(readProfile(dir, server.child.process.pid), { root, window, maps });
  } finally {
    for (const p of await Promise.allSettled(starting)) if (p.status === 'fulfilled') p.value.child.kill();
    removeDir();
  }
}

/**
 * The main thread's profile. node names each `CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile`, and
 * other threads of the process (a module-hooks thread of tsx) may leave a profile of their own; the
 * main thread is thread 0.
 */
function readProfile(dir: string, pid: number | undefined): CpuProfile {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const main = files.find((f) => f.includes(`.${pid}.0.`)) ?? files[0];
  if (main === undefined) throw new Error(`no CPU profile was written in ${dir}`);
  return JSON.parse(fs.readFileSync(path.join(dir, main), 'utf8')) as CpuProfile;
}
