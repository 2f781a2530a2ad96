/**
 * `@lameduck/keeper`: the `lameduck` command. Most users only run the bin (`lameduck run`, `reload`,
 * `status`); this entry point is for scripts that drive it or read its answers.
 *
 * @example
 * ```ts
 * import { ClientExit, main } from '@lameduck/keeper';
 *
 * // `lameduck reload` from a deploy script, with its documented exit code.
 * const code = await main(['reload', '--control', '/run/myapp/control.sock']);
 * if (code === ClientExit.ROLLED_BACK) throw new Error('the new release did not come up; the old one serves');
 * ```
 *
 * @packageDocumentation
 */
export { ClientExit, type CliIo, main } from './cli.js';
export type { GenerationSnapshot, KeeperSnapshot, WorkerSnapshot } from './status.js';
export { formatStatus } from './status.js';
export { KeeperExit, type ReloadResult } from './supervisor.js';
