export {
  type AdapterOptions,
  gateFromShutdown,
  type ResolvedAdapterOptions,
  resolveAdapterOptions,
} from './adapter.js';
export { type ErrorCode, ErrorCodes, isLameduckError, LameduckError } from './errors.js';
export { createLameduck, type HandleOptions, Lameduck } from './lifecycle.js';
export { stderrLogger } from './logger.js';
export { defaults } from './options.js';
export type { ListenOptions, ListenTarget, ReadyOptions } from './restart/handover.js';
export {
  type BindRestartOptions,
  bindRestart,
  type RestartOptions,
  type RestartResult,
} from './restart/self-upgrade.js';
export { serverKind } from './servers.js';
export type {
  AdaptiveDrainDelay,
  AnyRequest,
  AnyServer,
  HookContext,
  HookFn,
  HookOptions,
  HookPhase,
  HookReport,
  LameduckEvents,
  LameduckLogger,
  LameduckOptions,
  LameduckState,
  PhaseTimes,
  RequestListener,
  ShutdownReport,
  UpgradedSocketInfo,
} from './types.js';
