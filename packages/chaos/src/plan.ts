import { Rng, trialSeed } from './prng.js';

export const frameworks = ['node', 'express4', 'express5', 'koa2', 'koa3', 'fastify'] as const;
export type Framework = (typeof frameworks)[number];
/** `h2` is HTTP/2 over TLS that also speaks HTTP/1.1 (`allowHTTP1`); `h2c` is cleartext HTTP/2 only. */
export type Protocol = 'http' | 'https' | 'h2' | 'h2c';
export type EventKind = 'SIGTERM' | 'SIGINT' | 'double' | 'self-upgrade' | 'keeper-reload';

export interface HookPlan {
  name: string;
  phase: 'beforeDrain' | 'afterDrain';
  /**
   * `hang`: stuck on I/O that never answers (a ref'd handle keeps the process alive); `stall`: awaits a
   * promise nothing will settle (nothing keeps the process alive but lameduck itself).
   */
  behaviour: 'ok' | 'fail' | 'hang' | 'stall';
  /** How long an `ok` hook works. */
  ms: number;
  timeout: number;
}

export interface ServerPlan {
  framework: Framework;
  protocol: Protocol;
  options: { timeout: number; drainDelay: number; idleGrace?: number; lateRequests: 'reject' | 'serve' };
  /** Default timeout of hooks registered without one (Fastify's own `fastify.close` hook). */
  hookTimeout: number;
  hooks: HookPlan[];
  /** WebSockets: `close` answers lameduck's `upgraded` event with 1001, `none` leaves it to lameduck. */
  websockets: 'close' | 'none' | 'off';
  restart: 'none' | 'self' | 'keeper';
}

export type RequestPlan =
  /** `GET /work`: answers `size` bytes after `ms`; at the deadline it answers 504 or keeps going. */
  | { route: 'work'; ms: number; size: number; abort: 'answer' | 'ignore' }
  /** `GET /stream`: `chunks` chunks of 1 KiB, one every `every` ms. */
  | { route: 'stream'; chunks: number; every: number }
  /** `POST /upload`: the client sends `size` bytes in `chunks` parts, `every` ms apart. */
  | { route: 'upload'; size: number; chunks: number; every: number }
  /** `GET /big`: `size` bytes at once; the client stops reading for `pause` ms after the head. */
  | { route: 'big'; size: number; pause: number };

export type SessionPlan =
  /** One request on a new connection. */
  | { kind: 'single'; at: number; request: RequestPlan }
  /** Requests one after another on one connection, each sent the moment the last response ended. */
  | { kind: 'keepalive'; at: number; requests: RequestPlan[] }
  /** Requests written at once on one connection. */
  | { kind: 'pipeline'; at: number; requests: RequestPlan[] }
  /** One request whose head is written a byte at a time, `gap` ms apart. */
  | { kind: 'slowhead'; at: number; gap: number; request: RequestPlan }
  /** A WebSocket sending `messages` messages `every` ms and expecting each echoed. */
  | { kind: 'ws'; at: number; messages: number; every: number }
  /** HTTP/2 streams, each opened `after` ms after the previous one, on one session while it lasts. */
  | { kind: 'h2'; at: number; requests: (RequestPlan & { after: number })[] };

export interface EventPlan {
  kind: EventKind;
  /** When the event happens, in ms after the load started. */
  at: number;
  /** `double`: the second signal and how long after the first. */
  second?: { signal: 'SIGTERM' | 'SIGINT'; after: number };
  /** Restarts: when the process serving at the end gets its SIGTERM (at the earliest). */
  stopAt?: number;
}

export interface TrialPlan {
  trial: number;
  seed: number;
  server: ServerPlan;
  event: EventPlan;
  sessions: SessionPlan[];
  /** No session starts later than this (ms after the load started). */
  loadEnd: number;
}

function requestPlan(rng: Rng, allowBig: boolean, allowUpload: boolean): RequestPlan {
  const route = rng.weighted<RequestPlan['route']>([
    ['work', 6],
    ['stream', 2],
    ['upload', allowUpload ? 2 : 0],
    ['big', allowBig ? 1 : 0],
  ]);
  switch (route) {
    case 'work':
      return {
        route,
        ms: rng.chance(0.4) ? rng.int(0, 50) : rng.int(0, 2_000),
        size: rng.chance(0.8) ? rng.int(1, 4_096) : rng.int(4_096, 262_144),
        abort: rng.chance(0.5) ? 'answer' : 'ignore',
      };
    case 'stream':
      return { route, chunks: rng.int(2, 20), every: rng.int(10, 200) };
    case 'upload':
      return { route, size: rng.int(1, 262_144), chunks: rng.int(1, 8), every: rng.int(5, 300) };
    case 'big':
      return { route, size: rng.int(1, 8) * 1_048_576, pause: rng.chance(0.3) ? 0 : rng.int(50, 3_000) };
  }
}

/** Plan features that trigger a known open library bug, left out on request (see the README). */
export type Avoidable = 'hook-stall' | 'h2-second-signal';

function hooksPlan(rng: Rng, avoid: ReadonlySet<Avoidable>): HookPlan[] {
  return Array.from({ length: rng.int(0, 3) }, (_, i) => {
    let behaviour = rng.weighted<HookPlan['behaviour']>([
      ['ok', 7],
      ['fail', 1.5],
      ['hang', 1],
      ['stall', 0.5],
    ]);
    // Replaced after the draw, so that every other choice of the trial stays the same.
    if (behaviour === 'stall' && avoid.has('hook-stall')) behaviour = 'hang';
    return {
      name: `hook-${i}`,
      phase: rng.chance(0.35) ? 'beforeDrain' : 'afterDrain',
      behaviour,
      ms: behaviour === 'ok' ? rng.int(0, 150) : 0,
      // An `ok` hook gets at least 4x its work as timeout, so that a loaded machine does not time it out.
      timeout: behaviour === 'hang' || behaviour === 'stall' ? rng.int(100, 600) : rng.int(600, 1_000),
    };
  });
}

/** The whole trial, from its seed alone. */
export function planTrial(
  runSeed: number,
  trial: number,
  avoid: ReadonlySet<Avoidable> = new Set(),
): TrialPlan {
  const seed = trialSeed(runSeed, trial);
  const rng = new Rng(seed);
  const framework = rng.pick(frameworks);
  const protocol: Protocol = framework.startsWith('express')
    ? rng.pick(['http', 'https'] as const)
    : rng.weighted<Protocol>([
        ['http', 3],
        ['https', 2],
        ['h2', 2],
        ['h2c', 1],
      ]);
  const timeout = rng.int(600, 3_000);
  const server: ServerPlan = {
    framework,
    protocol,
    options: {
      timeout,
      drainDelay: rng.chance(0.6) ? 0 : rng.int(20, Math.min(600, timeout / 2)),
      ...(rng.chance(0.5) ? {} : { idleGrace: rng.int(60, 500) }),
      lateRequests: rng.chance(0.7) ? 'reject' : 'serve',
    },
    hookTimeout: 1_000,
    hooks: hooksPlan(rng, avoid),
    // WebSockets need HTTP/1 (on an h2 server, through allowHTTP1).
    websockets: protocol === 'h2c' ? 'off' : rng.chance(0.7) ? 'close' : 'none',
    restart: 'none',
  };
  const kind = rng.weighted<EventKind>([
    ['SIGTERM', 3],
    ['SIGINT', 2],
    ['double', 2],
    ['self-upgrade', 2],
    ['keeper-reload', 2],
  ]);
  const event: EventPlan = { kind, at: rng.int(150, 1_500) };
  let loadEnd = event.at + rng.int(0, timeout + 500);
  if (kind === 'double') {
    event.second = { signal: rng.pick(['SIGTERM', 'SIGINT'] as const), after: rng.int(0, timeout + 500) };
    // Replaced after the draw, so that every other choice of the trial stays the same.
    if (avoid.has('h2-second-signal') && (protocol === 'h2' || protocol === 'h2c')) {
      event.kind = 'SIGTERM';
      delete event.second;
    }
  } else if (kind === 'self-upgrade' || kind === 'keeper-reload') {
    server.restart = kind === 'self-upgrade' ? 'self' : 'keeper';
    event.stopAt = event.at + rng.int(1_500, 3_500);
    loadEnd = event.stopAt + rng.int(0, 800);
  }

  const http1 = protocol !== 'h2c';
  const sessions: SessionPlan[] = [];
  const count = rng.int(12, 36);
  for (let i = 0; i < count; i++) {
    const at = rng.int(0, loadEnd);
    const session = rng.weighted<SessionPlan['kind']>([
      ['single', http1 ? 3 : 0],
      ['keepalive', http1 ? 3 : 0],
      ['pipeline', http1 ? 2 : 0],
      ['slowhead', http1 ? 1 : 0],
      ['ws', server.websockets === 'off' ? 0 : 1],
      ['h2', protocol === 'h2' || protocol === 'h2c' ? 3 : 0],
    ]);
    switch (session) {
      case 'single':
        sessions.push({ kind: session, at, request: requestPlan(rng, true, true) });
        break;
      case 'keepalive':
        sessions.push({
          kind: session,
          at,
          requests: Array.from({ length: rng.int(2, 6) }, () => requestPlan(rng, true, true)),
        });
        break;
      case 'pipeline':
        // Only bodiless requests: a pipelined upload would have to be written whole anyway.
        sessions.push({
          kind: session,
          at,
          requests: Array.from({ length: rng.int(2, 5) }, () => requestPlan(rng, false, false)),
        });
        break;
      case 'slowhead':
        sessions.push({ kind: session, at, gap: rng.int(1, 15), request: requestPlan(rng, false, false) });
        break;
      case 'ws':
        sessions.push({ kind: session, at, messages: rng.int(5, 60), every: rng.int(10, 80) });
        break;
      case 'h2':
        sessions.push({
          kind: session,
          at,
          requests: Array.from({ length: rng.int(1, 8) }, () => ({
            ...requestPlan(rng, true, true),
            after: rng.chance(0.3) ? 0 : rng.int(0, 600),
          })),
        });
        break;
    }
  }
  sessions.sort((a, b) => a.at - b.at);
  return { trial, seed, server, event, sessions, loadEnd };
}

/** One line for logs: what the trial mixes. */
export function describePlan(plan: TrialPlan): string {
  const s = plan.server;
  const kinds = new Map<string, number>();
  for (const session of plan.sessions) kinds.set(session.kind, (kinds.get(session.kind) ?? 0) + 1);
  const mix = [...kinds].map(([k, n]) => `${k}×${n}`).join(' ');
  const o = s.options;
  const event =
    plan.event.kind === 'double'
      ? `double(${plan.event.second?.signal}+${plan.event.second?.after}ms)`
      : plan.event.kind;
  return `${s.framework}/${s.protocol} ${event}@${plan.event.at}ms timeout=${o.timeout} delay=${o.drainDelay} grace=${o.idleGrace ?? 250} late=${o.lateRequests} hooks=${s.hooks.map((h) => `${h.phase === 'beforeDrain' ? 'b' : 'a'}:${h.behaviour}`).join(',') || '-'} ws=${s.websockets} | ${mix}`;
}
