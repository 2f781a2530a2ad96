import { fileURLToPath } from 'node:url';
import type { LameduckOptions } from '@lameduck/core';
import { type Child, RawConnection, spawnSource } from '@lameduck/testkit';
import type { ConformanceFactory } from './types.js';

/**
 * The factory's app in a child process (`src/child-main.ts`): it prints `listening <port>`,
 * `slow started` and `state <state>`; `release()` lets held slow requests finish.
 */
export interface ConformanceChild extends Child {
  release(): void;
}

const runner = fileURLToPath(new URL('./child-main.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Starts the factory's app in a child node process that resolves workspace packages to their source. */
export function spawnApp(factory: ConformanceFactory, options: LameduckOptions = {}): ConformanceChild {
  const config = { url: factory.module.url, exportName: factory.module.exportName, options };
  const child = spawnSource(runner, { cwd: root, env: { LAMEDUCK_CONFORMANCE: JSON.stringify(config) } });
  return Object.assign(child, { release: () => void child.process.stdin?.write('release\n') });
}

/**
 * {@link spawnApp}, then `GET /slow` on a connection of its own; resolves once the handler runs, with
 * the request in flight. `cleanup` is handed the child and the connection as soon as each exists.
 */
export async function spawnAppWithSlowRequest(
  factory: ConformanceFactory,
  cleanup: (fn: () => void) => void,
  options: LameduckOptions = {},
): Promise<{ child: ConformanceChild; conn: RawConnection }> {
  const child = spawnApp(factory, options);
  cleanup(() => child.kill());
  const port = Number(await child.line('listening '));
  const conn = await RawConnection.open(port);
  cleanup(() => conn.destroy());
  conn.get('/slow');
  await child.line('slow started');
  return { child, conn };
}
