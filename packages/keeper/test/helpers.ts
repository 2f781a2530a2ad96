// The keeper's test helpers: how the suite starts the `lameduck` bin. The child-process runner, the
// fixture app and the load generator are shared with core's restart tests (self-upgrade, LISTEN_FDS).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appCommand, coreDir, nodeArgs, Proc } from '../../core/test/restart/helpers.js';

export {
  appCommand,
  appPath,
  collectPids,
  coreDir,
  freePort,
  get,
  killAfterEach,
  killAll,
  killPids,
  type Line,
  type LoadStats,
  load,
  nodeArgs,
  Proc,
  socketActivate,
  tmpDir,
  writeConfig,
} from '../../core/test/restart/helpers.js';

export const keeperDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The bin's TypeScript source, run with {@link nodeArgs}. */
export const binPath = path.join(keeperDir, 'src/bin/lameduck.ts');

export function startKeeper(
  args: readonly string[],
  configFile: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Proc {
  return new Proc(process.execPath, [...nodeArgs, binPath, 'run', ...args, '--', ...appCommand], {
    ...process.env,
    APP_CONFIG: configFile,
    ...extraEnv,
  });
}

/** Runs `lameduck <args>` to completion. */
export function cli(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, binPath, ...args], { cwd: coreDir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
