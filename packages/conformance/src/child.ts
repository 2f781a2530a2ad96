import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LameduckOptions } from '@lameduck/core';
import type { ConformanceFactory } from './types.js';

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the rest of the first stdout line that starts with `prefix`; rejects if the child exits first. */
  line(prefix: string): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL, if still running (cleanup). */
  kill(): void;
}

const runner = fileURLToPath(new URL('./child-main.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Starts the factory's app in a child node process that resolves workspace packages to their source. */
export function spawnApp(factory: ConformanceFactory, options: LameduckOptions = {}): Child {
  const config = { url: factory.module.url, exportName: factory.module.exportName, options };
  const proc = spawn(process.execPath, ['--conditions=@lameduck/source', '--import', 'tsx', runner], {
    cwd: root,
    env: { ...process.env, LAMEDUCK_CONFORMANCE: JSON.stringify(config) },
    stdio: 'pipe',
  });
  let out = '';
  let err = '';
  let waiters: { prefix: string; resolve: (rest: string) => void }[] = [];
  const scan = () => {
    const lines = out.split('\n').slice(0, -1);
    waiters = waiters.filter((w) => {
      const hit = lines.find((l) => l.startsWith(w.prefix));
      if (hit === undefined) return true;
      w.resolve(hit.slice(w.prefix.length).trim());
      return false;
    });
  };
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    scan();
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    process: proc,
    line(prefix) {
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve });
        scan();
        void exited.then(({ code, signal }) =>
          reject(new Error(`child exited (${code ?? signal}) before "${prefix}"\n${out}\n${err}`)),
        );
      });
    },
    exited,
    stdout: () => out,
    stderr: () => err,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
