/**
 * The protocol an application and the lameduck keeper share, for `@lameduck/keeper` (the `lameduck`
 * command): the control channel between a supervising process and the workers it starts, the systemd
 * socket-passing variables (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`) and systemd's readiness
 * notification. Applications do not need it: `lameduck.listen()`, `ready()` and `restart()` speak it
 * for them.
 *
 * Published as `@lameduck/core/protocol` so that a keeper and an application installed at different
 * versions still agree on one definition per release; every control message carries
 * {@link CONTROL_PROTOCOL_VERSION}.
 *
 * @example
 * ```ts
 * import { spawnChild, parseAddress } from '@lameduck/core/protocol';
 *
 * const channel = spawnChild({ command: ['node', 'server.js'], fds: [3], names: ['http'], role: 'keeper', env: process.env });
 * channel.on((message) => {
 *   if (message.type === 'ready') console.log(`worker ${message.pid} serves on ${JSON.stringify(parseAddress(':8080'))}`);
 *   if (message.type === 'incompatible') console.error(message.message);
 * });
 * ```
 *
 * @packageDocumentation
 */
export {
  type ChildChannel,
  type ChildEvent,
  type ChildMessage,
  CONTROL_PROTOCOL_VERSION,
  type ControlRole,
  type Incompatible,
  type ParentMessage,
  type SpawnChildOptions,
  signalChild,
  spawnChild,
} from './restart/control.js';
export {
  type Address,
  clearListenEnv,
  formatAddress,
  type InheritedFd,
  isValidFdName,
  parseAddress,
  parseListenEnv,
  SD_LISTEN_FDS_START,
} from './restart/listen-fds.js';
export { systemdNotify } from './restart/notify.js';
