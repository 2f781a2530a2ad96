import type { TrackerStats } from './connections.js';
import type { HookReport, PhaseTimes, ShutdownReport } from './types.js';

/** What the shutdown sequence collected, from which the report is built. */
export interface ReportInput {
  reason: string;
  signal: NodeJS.Signals | undefined;
  startedAt: string;
  durationMs: number;
  phases: PhaseTimes;
  deadlineReached: boolean;
  servers: number;
  inFlightAtStart: number;
  openAtStart: number;
  stats: TrackerStats;
  hooks: HookReport[];
}

/**
 * The report of one shutdown. The exit code is 0 when every request finished and every hook succeeded,
 * 1 when the deadline cut requests or a hook failed or timed out (128+N belongs to a second signal,
 * which never gets this far).
 */
export function buildReport(i: ReportInput): ShutdownReport {
  const s = i.stats;
  const hooksFailed = i.hooks.some((h) => h.outcome !== 'ok');
  return {
    reason: i.reason,
    ...(i.signal === undefined ? {} : { signal: i.signal }),
    startedAt: i.startedAt,
    durationMs: i.durationMs,
    phases: i.phases,
    deadlineReached: i.deadlineReached,
    servers: i.servers,
    requests: {
      inFlightAtStart: i.inFlightAtStart,
      completed: s.completed,
      rejected: s.rejected,
      aborted: s.aborted,
      disconnected: s.disconnected,
    },
    sockets: {
      openAtStart: i.openAtStart,
      closedIdle: s.closedIdle,
      closedAfterResponse: s.closedAfterResponse,
      upgradedClosed: s.upgradedClosed,
      forced: s.forced,
    },
    hooks: i.hooks,
    exitCode: i.deadlineReached || hooksFailed ? 1 : 0,
  };
}

/** The fields of the one log line that closes a shutdown. */
export function reportLogFields(report: ShutdownReport): Record<string, unknown> {
  const { requests, sockets } = report;
  return {
    ms: report.durationMs,
    completed: requests.completed,
    rejected: requests.rejected,
    aborted: requests.aborted,
    forced: sockets.forced,
    exitCode: report.exitCode,
  };
}
