import type { ShutdownReport } from '@lameduck/core';
import type { JsonLine as Line } from '@lameduck/testkit';
import type { Attempt } from './clients.js';
import type { LeakResult } from './leak.js';
import { drainBound, type TrialRecord } from './trial.js';

/**
 * Slack on every time bound: what a loaded two-core machine adds to lameduck's own timers (a late
 * timer fires after the loop turn that was running, and a busy-loop neighbour can hold the CPU for a
 * scheduler slice or two), plus process exit. See the README for the measurements behind it.
 */
export const MARGIN_MS = 2_000;

/** How each attempt was classified, for the summary. */
export type Verdict =
  | 'ok'
  | 'rejected-503'
  | 'answered-at-deadline'
  | 'refused'
  | 'stream-refused'
  | 'unprocessed-after-close'
  | 'cut-at-deadline'
  | 'cut-by-second-signal'
  | 'idle-race'
  | 'unaccepted'
  | 'ws-1001'
  | 'ws-dropped-by-design'
  | 'node-parse-error'
  | 'violation';

export interface TrialCheck {
  violations: string[];
  verdicts: Map<Verdict, number>;
  /** Each attempt's verdict, with the process that saw and ran it (for `--debug`). */
  detail: { attempt: Attempt; verdict: Verdict; seenBy?: number; ranBy?: number; acceptedBy?: number }[];
  /** The smallest slack (ms) left by any process on its exit bound. */
  minSlack: number | undefined;
}

interface ProcessFacts {
  pid: number;
  lines: Line[];
  shutdown?: Line;
  drain?: Line;
  deadline?: Line;
  forceExit?: Line;
  report?: ShutdownReport;
  exit?: Line;
  crash?: Line;
  hooks: string[];
  appClose: number;
  /** Its drain serves late requests (a keeper's worker, or the old process of a self-upgrade). */
  handover: boolean;
}

function factsOf(record: TrialRecord): Map<number, ProcessFacts> {
  const processes = new Map<number, ProcessFacts>();
  for (const l of record.lines) {
    if (typeof l.chaos !== 'string') continue;
    const pid = Number(l.pid);
    let p = processes.get(pid);
    if (p === undefined) {
      p = { pid, lines: [], hooks: [], appClose: 0, handover: false };
      processes.set(pid, p);
    }
    p.lines.push(l);
    switch (l.chaos) {
      case 'shutdown':
        p.shutdown = l;
        p.handover = record.plan.server.restart === 'keeper' || l.reason === 'restart';
        break;
      case 'drain':
        p.drain = l;
        break;
      case 'deadline':
        p.deadline = l;
        break;
      case 'forceExit':
        p.forceExit = l;
        break;
      case 'report':
        p.report = l.report as ShutdownReport;
        break;
      case 'exit':
        p.exit = l;
        break;
      case 'crash':
        p.crash = l;
        break;
      case 'hook':
        p.hooks.push(String(l.name));
        break;
      case 'appClose':
        p.appClose++;
        break;
    }
  }
  return processes;
}

/** When each request id was first logged as `seen`. */
function seenTimes(processes: Map<number, ProcessFacts>): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processes.values()) {
    for (const l of p.lines)
      if (l.chaos === 'seen' && !out.has(Number(l.id))) out.set(Number(l.id), Number(l.t));
  }
  return out;
}

/** Which process logged `chaos` for each value of `key` (request ids, client ports). */
function index(processes: Map<number, ProcessFacts>, chaos: string, key: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processes.values())
    for (const l of p.lines) if (l.chaos === chaos) out.set(Number(l[key]), p.pid);
  return out;
}

const expectedOutcome = { ok: 'ok', fail: 'error', hang: 'timeout', stall: 'timeout' } as const;

export function checkTrial(record: TrialRecord): TrialCheck {
  const { plan } = record;
  const s = plan.server;
  const violations: string[] = [...record.problems.map((p) => `harness: ${p}`)];
  const processes = factsOf(record);
  const seen = index(processes, 'seen', 'id');
  const ran = index(processes, 'run', 'id');
  const accepted = index(processes, 'conn', 'port');
  const seenAt = seenTimes(processes);
  // Node's parser gave up on a connection (`clientError`) while its process still served normally: the
  // loss is node's (or the framework's), not the drain's. Seen with Koa on an allowHTTP1 server
  // (HPE_PAUSED, without lameduck too); reported apart, and a violation once the shutdown began.
  const parseErrors = new Map<number, number>();
  for (const p of processes.values()) {
    for (const l of p.lines) {
      if (l.chaos === 'clientError' && Number(l.t) < Number(p.shutdown?.t ?? Number.POSITIVE_INFINITY)) {
        parseErrors.set(Number(l.port), p.pid);
      }
    }
  }
  const verdicts = new Map<Verdict, number>();
  const detail: TrialCheck['detail'] = [];
  let current: Attempt | undefined;
  const count = (v: Verdict) => {
    verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    if (current === undefined) return;
    const seenBy = seen.get(current.id);
    const ranBy = ran.get(current.id);
    const acceptedBy = accepted.get(current.port ?? -1);
    detail.push({ attempt: current, verdict: v, seenBy, ranBy, acceptedBy });
  };
  const bound = drainBound(plan) + MARGIN_MS;
  let minSlack: number | undefined;
  const slack = (ms: number) => {
    minSlack = minSlack === undefined ? ms : Math.min(minSlack, ms);
  };

  // ── Processes: exit codes, exit times, hooks. ──────────────────────────────────────────────────
  for (const p of processes.values()) {
    const who = `pid ${p.pid}`;
    if (p.crash) violations.push(`${who} crashed: ${String(p.crash.error).split('\n')[0]}`);
    if (p.shutdown === undefined) {
      if (p.exit) violations.push(`${who} exited (code ${String(p.exit.code)}) without a shutdown`);
      continue;
    }
    if (p.exit === undefined) {
      violations.push(`${who} started its shutdown but never exited`);
      continue;
    }
    const code = Number(p.exit.code);
    if (p.pid === record.mainPid && s.restart !== 'keeper' && record.mainExit?.code !== code) {
      violations.push(
        `${who} said it exits with ${code}, but its exit code was ${String(record.mainExit?.code)}`,
      );
    }
    for (const hook of s.hooks) {
      const runs = p.hooks.filter((h) => h === hook.name).length;
      if (runs > 1 || (runs === 0 && p.report !== undefined && hook.phase === 'afterDrain')) {
        violations.push(`${who}: hook ${hook.name} (${hook.phase}) ran ${runs} times`);
      }
    }
    if (p.appClose > 1) violations.push(`${who}: fastify's onClose ran ${p.appClose} times`);
    const took = Number(p.exit.t) - Number(p.shutdown.t);
    if (p.forceExit) {
      // The second signal: exit at once with 128 + its number.
      const signalCode = Number(p.forceExit.exitCode);
      if (code !== signalCode)
        violations.push(`${who}: second signal, yet exit code ${code} (not ${signalCode})`);
      const second = record.signals.filter((x) => x.pid === p.pid).at(-1);
      const late = second === undefined ? 0 : Number(p.exit.t) - Math.max(second.t, Number(p.forceExit.t));
      if (late > MARGIN_MS) violations.push(`${who}: exited ${Math.round(late)} ms after the second signal`);
      continue;
    }
    const report = p.report;
    if (report === undefined) {
      const running = p.hooks.at(-1);
      violations.push(
        `${who} exited with ${code} without a report${running ? ` (last hook started: ${running}, ${s.hooks.find((h) => h.name === running)?.behaviour})` : ''}`,
      );
      continue;
    }
    slack(bound - took);
    if (took > bound) {
      violations.push(
        `${who}: exited ${Math.round(took)} ms after its shutdown started; the bound is ${bound} ms`,
      );
    }
    const failed = report.hooks.some((h) => h.outcome !== 'ok');
    const want = report.deadlineReached || failed ? 1 : 0;
    if (report.exitCode !== want || code !== report.exitCode) {
      violations.push(
        `${who}: exit code ${code}, report says ${report.exitCode}, expected ${want} (deadline ${report.deadlineReached}, hook failed ${failed})`,
      );
    }
    for (const hook of s.hooks) {
      const entries = report.hooks.filter((h) => h.name === hook.name);
      if (entries.length > 1 || (entries.length === 0 && hook.phase === 'afterDrain')) {
        violations.push(`${who}: the report lists hook ${hook.name} ${entries.length} times`);
      } else if (entries[0] && entries[0].outcome !== expectedOutcome[hook.behaviour]) {
        violations.push(
          `${who}: hook ${hook.name} (${hook.behaviour}) reported ${entries[0].outcome} (${entries[0].error ?? ''})`,
        );
      }
    }
    if (s.framework === 'fastify') {
      if (report.hooks.filter((h) => h.name === 'fastify.close').length !== 1 || p.appClose !== 1) {
        violations.push(`${who}: fastify.close / onClose did not run exactly once`);
      }
    }
    if (report.requests.disconnected > 0) {
      violations.push(
        `${who}: the report counts ${report.requests.disconnected} disconnected requests, but no client left early`,
      );
    }
  }
  if (s.restart === 'keeper' && record.mainExit !== undefined) {
    const workers = [...processes.values()].filter((p) => p.exit !== undefined);
    const want = workers.some((p) => Number(p.exit?.code) !== 0) ? 1 : 0;
    if (record.mainExit.code !== want) {
      violations.push(
        `keeper exited with ${String(record.mainExit.code)}, expected ${want} from its workers' exit codes`,
      );
    }
  }

  // ── Requests. ─────────────────────────────────────────────────────────────────────────────────
  const cutAtDeadline = (p: ProcessFacts | undefined) =>
    p !== undefined && (p.report?.deadlineReached === true || p.deadline !== undefined);
  /** A process that exited on a second signal cuts what it has: at that signal, or at its deadline. */
  const cutBySecondSignal = (p: ProcessFacts | undefined, a: Attempt) =>
    p?.forceExit !== undefined && (a.endedAt >= Number(p.forceExit.t) || p.deadline !== undefined);
  const firstShutdown = Math.min(...[...processes.values()].map((p) => Number(p.shutdown?.t ?? Infinity)));
  // When the last process accepting on the socket stopped: taken just before its listener closed. A
  // process that exits before (a second signal during the before-drain phase) holds the socket until it
  // is gone, some time after its `exit` line: `lastClose` takes the line, `lastCloseLatest` the moment the
  // runner saw the exit (unknown for a process the runner did not start). A refusal seen before the
  // first, or a connection started after the second that was queued and then reset instead of refused,
  // contradicts "new connections are refused".
  const closes = [...processes.values()].map((p) => {
    const listenerClose = p.lines.find((l) => l.chaos === 'listenerClose');
    if (listenerClose !== undefined)
      return { earliest: Number(listenerClose.t), latest: Number(listenerClose.t) };
    const seenExit = p.pid === record.mainPid ? record.mainExitAt : undefined;
    return { earliest: Number(p.exit?.t ?? 0), latest: seenExit ?? Number.POSITIVE_INFINITY };
  });
  const lastClose = Math.max(...closes.map((c) => c.earliest));
  const lastCloseLatest = Math.max(...closes.map((c) => c.latest));
  const perProcess = new Map<
    number,
    { cut: number; cutSeen: number; rejected: number; idle: Set<number | undefined> }
  >();
  const entry = (pid: number) => {
    const t = perProcess.get(pid) ?? { cut: 0, cutSeen: 0, rejected: 0, idle: new Set() };
    perProcess.set(pid, t);
    return t;
  };
  const tally = (pid: number, what: 'cut' | 'cutSeen' | 'rejected') => {
    entry(pid)[what]++;
  };
  // The report counts connections closed as idle: several requests lost on one (pipelined behind a TLS
  // handshake that was reaped) are one.
  const idleConnection = (pid: number, port: number | undefined) => entry(pid).idle.add(port);
  const fail = (a: Attempt, why: string) => {
    count('violation');
    why += ` [seen by ${seen.get(a.id) ?? '-'}, run by ${ran.get(a.id) ?? '-'}, accepted by ${accepted.get(a.port ?? -1) ?? '-'}]`;
    violations.push(
      `request ${a.id} (${a.kind}/${a.route}${a.reused ? ', reused socket' : ''}${a.pipelined ? ', pipelined' : ''}, port ${a.port ?? '-'}): ${why}`,
    );
  };

  for (const a of record.attempts) {
    current = a;
    const seenBy = processes.get(seen.get(a.id) ?? -1);
    const ranBy = processes.get(ran.get(a.id) ?? -1);
    const owner = ranBy ?? seenBy;
    if (a.result === 'timeout') {
      fail(a, 'still waiting for an answer when the trial bound hit');
      continue;
    }
    if (a.route === 'ws') {
      checkWebSocket(a, ranBy, seenBy);
      continue;
    }
    if (a.result === 'response') {
      const status = a.status ?? 0;
      // RFC 9112 §9.6: from the first moment of the shutdown every HTTP/1 response closes its
      // connection. A request the server received after that must be answered so; with pipelining only
      // the last request received carries it, so pipelined requests are left out.
      const received = seenAt.get(a.id);
      const since = Number(owner?.shutdown?.t ?? Infinity);
      if (
        a.kind !== 'h2' &&
        a.kind !== 'pipeline' &&
        received !== undefined &&
        received > since &&
        !a.connectionClose
      ) {
        fail(
          a,
          `a ${status} without Connection: close, for a request received ${Math.round(received - since)} ms into the shutdown`,
        );
        continue;
      }
      if (status >= 200 && status < 300) {
        if (a.verified) count('ok');
        else
          fail(
            a,
            `a ${status} whose body is not the one asked for (${a.body ?? '?'}, ${a.error ?? 'no error'})`,
          );
      } else if (status === 503) {
        const h2 = a.kind === 'h2';
        if (ranBy) fail(a, `503 although the handler ran (pid ${ranBy.pid})`);
        else if (!h2 && !a.connectionClose) fail(a, '503 without Connection: close');
        else if (a.retryAfter !== '1') fail(a, `503 with Retry-After ${a.retryAfter ?? 'missing'}`);
        else if (s.options.lateRequests === 'serve' || seenBy?.handover) {
          fail(a, `503 from pid ${seenBy?.pid ?? '?'} although late requests are served there`);
        } else {
          count('rejected-503');
          if (seenBy) tally(seenBy.pid, 'rejected');
        }
      } else if (status === 504 && cutAtDeadline(ranBy)) {
        count('answered-at-deadline');
      } else {
        fail(a, `status ${status} ${a.text ?? ''}`);
      }
      continue;
    }
    if (a.result === 'refused') {
      if (a.endedAt >= lastClose) count('refused');
      else fail(a, 'connection refused while the socket was still being listened on');
      continue;
    }
    if (a.result === 'stream-refused') {
      if (ranBy) fail(a, `HTTP/2 stream refused after its handler ran (pid ${ranBy.pid})`);
      else if (a.endedAt < firstShutdown) fail(a, 'HTTP/2 stream refused before any shutdown started');
      else count('stream-refused');
      continue;
    }
    // `truncated` or `none`: the connection or stream ended before a complete answer.
    const what = a.result === 'truncated' ? 'truncated response' : `no answer (${a.error ?? 'FIN'})`;
    if (a.port !== undefined && parseErrors.has(a.port) && parseErrors.get(a.port) === accepted.get(a.port)) {
      count('node-parse-error');
    } else if (a.afterClose && !ranBy && a.result === 'none') {
      count('unprocessed-after-close');
    } else if (cutBySecondSignal(owner, a)) {
      count('cut-by-second-signal');
    } else if (ranBy || seenBy) {
      if (cutAtDeadline(owner)) {
        count('cut-at-deadline');
        tally(owner!.pid, ranBy ? 'cut' : 'cutSeen');
      } else {
        fail(
          a,
          `${what}, although pid ${owner!.pid} ${ranBy ? 'ran it' : 'received it'} and no deadline was reached`,
        );
      }
    } else if (a.port === undefined) {
      fail(a, `${what} on a connection that never got a client port`);
    } else {
      const by = processes.get(accepted.get(a.port) ?? -1);
      if (by === undefined) {
        unaccepted(a, what);
      } else if (cutBySecondSignal(by, a)) {
        count('cut-by-second-signal');
      } else if (by.shutdown === undefined || a.endedAt < Number(by.shutdown.t)) {
        fail(a, `${what} on a connection pid ${by.pid} closed before any shutdown`);
      } else {
        // The server never saw the request: it closed the connection as idle (or at the deadline).
        count('idle-race');
        idleConnection(by.pid, a.port);
      }
    }
  }

  /**
   * A connection the kernel completed but no server process ever accepted, reset when the listening
   * socket closed with it still queued. Clean only for a connection started before the last listener
   * closed (it raced the close) and reset by that close; one started after it should have been refused.
   * 5 ms covers the synchronous close() that follows the `listenerClose` timestamp.
   */
  function unaccepted(a: Attempt, what: string): void {
    if (a.endedAt < lastClose) {
      fail(a, `${what}: reset before the last listener closed, on a connection no server accepted`);
    } else if (a.connectAt <= lastCloseLatest + 5) {
      count('unaccepted');
    } else {
      fail(
        a,
        `${what}: started ${Math.round(a.connectAt - lastCloseLatest)} ms after the last listener closed, queued by the kernel and reset instead of refused`,
      );
    }
  }

  function checkWebSocket(
    a: Attempt,
    ranBy: ProcessFacts | undefined,
    seenBy: ProcessFacts | undefined,
  ): void {
    const ws = a.ws!;
    if (!ws.inOrder || ws.echoed > ws.sent)
      fail(a, `WebSocket echoes out of order (${ws.echoed}/${ws.sent})`);
    if (ws.opened) {
      if (ws.code === 1001 && a.endedAt >= Number(ranBy?.shutdown?.t ?? Infinity)) count('ws-1001');
      else if (
        ws.code === 1006 &&
        (s.websockets === 'none' || cutAtDeadline(ranBy) || cutBySecondSignal(ranBy, a))
      ) {
        count('ws-dropped-by-design');
      } else fail(a, `WebSocket closed with ${ws.code} by pid ${ranBy?.pid ?? '?'} (${a.error ?? ''})`);
      return;
    }
    if (a.result === 'refused') {
      if (a.endedAt >= lastClose) count('refused');
      else fail(a, 'WebSocket connection refused while the socket was still listened on');
    } else if (a.status !== undefined) {
      fail(a, `WebSocket handshake answered ${a.status}`);
    } else if (seenBy !== undefined) {
      if (s.websockets === 'none' || cutAtDeadline(seenBy) || cutBySecondSignal(seenBy, a))
        count('ws-dropped-by-design');
      else
        fail(a, `WebSocket handshake received by pid ${seenBy.pid} but never completed (${a.error ?? ''})`);
    } else {
      const by = processes.get(accepted.get(a.port ?? -1) ?? -1);
      if (by === undefined && a.port !== undefined) unaccepted(a, 'WebSocket failed before its handshake');
      else if (by?.shutdown !== undefined && a.endedAt >= Number(by.shutdown.t)) {
        count('idle-race');
        idleConnection(by.pid, a.port);
      } else fail(a, `WebSocket failed before its handshake (${a.error ?? ''})`);
    }
  }

  // ── The client's view against each report's counts. ─────────────────────────────────────────────
  for (const [pid, t] of perProcess) {
    const report = processes.get(pid)?.report;
    if (report === undefined) continue;
    const { aborted, rejected } = report.requests;
    if (t.cut > aborted) {
      violations.push(
        `pid ${pid}: clients saw ${t.cut} processed requests cut at the deadline, the report counts ${aborted} aborted`,
      );
    }
    if (t.rejected > rejected) {
      violations.push(`pid ${pid}: clients got ${t.rejected} 503s, the report counts ${rejected} rejected`);
    }
    // A request received but not run yet (a 503 waiting for its upload, Fastify still reading a body)
    // and cut at the deadline is counted aborted or rejected.
    if (t.cut + t.cutSeen + t.rejected > aborted + rejected) {
      violations.push(
        `pid ${pid}: clients saw ${t.cut + t.cutSeen} requests cut and ${t.rejected} rejected, the report counts ${aborted} aborted + ${rejected} rejected`,
      );
    }
    if (t.idle.size > report.sockets.closedIdle + report.sockets.forced) {
      violations.push(
        `pid ${pid}: ${t.idle.size} connections lost a request to an idle close, the report counts ${report.sockets.closedIdle} idle + ${report.sockets.forced} forced`,
      );
    }
  }
  return { violations, verdicts, detail, minSlack };
}

/**
 * Tolerances of the leak check (see the README): a lazily opened descriptor or two, no resource, and
 * 2 MiB of heap, against a leak that would grow with the cycles (one disposed lifecycle retained per
 * cycle is ~47 KiB, 40+ MiB over a thousand cycles).
 */
export const LEAK_TOLERANCE = { fds: 2, resources: 0, heap: 2 * 1_048_576 } as const;

export function checkLeak(result: LeakResult | string): string[] {
  if (typeof result === 'string') return [result];
  const { baseline: b, final: f } = result;
  const out: string[] = [];
  if (f.fds > b.fds + LEAK_TOLERANCE.fds) out.push(`open file descriptors grew from ${b.fds} to ${f.fds}`);
  for (const type of new Set([...Object.keys(b.resources), ...Object.keys(f.resources)])) {
    const before = b.resources[type] ?? 0;
    const after = f.resources[type] ?? 0;
    if (after > before + LEAK_TOLERANCE.resources) out.push(`active ${type} grew from ${before} to ${after}`);
  }
  if (f.heap - b.heap > LEAK_TOLERANCE.heap) {
    out.push(
      `heap grew by ${((f.heap - b.heap) / 1_048_576).toFixed(2)} MiB over ${result.cycles - result.warmup} cycles`,
    );
  }
  return out;
}
