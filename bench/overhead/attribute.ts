// Reads a V8 CPU profile (.cpuprofile, as `node --cpu-prof` writes it) of a lameduck server under load
// and says how much of the server's busy time was lameduck's own code. A sampling profile is not
// disturbed by the rest of the machine the way req/s is: a slow spell slows every frame alike, so
// shares stay put. What it cannot see is work on other threads (GC helpers, libuv's pool): the share
// is of the main thread, where every request of an HTTP server is served.
import fs from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Where a frame's function is: 0-based line and column of the code V8 ran. */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** The parts of the .cpuprofile format read here (Chrome DevTools protocol, Profiler.Profile). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: CallFrame;
    children?: number[];
  }[];
  /** Monotonic clock, µs (the clock of process.hrtime()). */
  startTime: number;
  samples: number[];
  /** µs between a sample and the one before it (the first: since startTime). */
  timeDeltas: number[];
}

export interface Frame {
  /** `function (path:line)`, the path relative to the repository. */
  frame: string;
  samples: number;
  /** Of the busy samples. */
  share: number;
}

export interface Attribution {
  /** Samples in the window, all of them but "(idle)": the main thread at work. */
  busy: number;
  /** Self samples of frames in lameduck's own code. */
  lameduck: number;
  share: number;
  /**
   * Self samples of node's `arrayClone` under the emit of the server's 'request' event: node copies
   * an event's listener array on every emit when there are two or more listeners, and the servers
   * measured here have a second 'request' listener only if lameduck adds one.
   */
  caused: number;
  causedShare: number;
  /** lameduck's frames by self samples, most first. */
  top: Frame[];
  /** The mean time between samples in the window (µs). */
  intervalUs: number;
}

// lameduck's packages as the bench runs them (TypeScript sources through tsx, file:///…/packages/core/
// src/…) and as built or installed (…/packages/core/dist/…, …/node_modules/@lameduck/core/dist/…).
const OWN = /\/(?:packages|node_modules\/@lameduck)\/(?:core|express|fastify|koa)\/(?:src|dist)\//;

export interface AttributeOptions {
  /** Paths are shown relative to this directory. */
  root: string;
  /** Only samples taken between `from` and `to` (µs, the profile's clock) count; all of them without. */
  window?: { from: number; to: number };
  /** Source maps of lameduck's modules by URL, to show lines of the TypeScript the frames came from. */
  maps?: Record<string, SourceMapPayload>;
}

/**
 * lameduck's share of the busy samples of the window. The denominator is every sample but "(idle)"
 * (the thread waiting for I/O): "(program)" (native code with no JavaScript on the stack, mostly the
 * event loop and its I/O) and "(garbage collector)" are CPU time the server spends serving, so they
 * count. A frame counts where the sample found it running (its self time), so lameduck's middleware is
 * charged for its own statements and not for the rest of the app it calls.
 */
export function attribute(profile: CpuProfile, options: AttributeOptions): Attribution {
  const { root, window = { from: -Infinity, to: Infinity }, maps = {} } = options;
  const label = sourceLabels(maps, root);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frameOf = (id: number) => byId.get(id)?.callFrame;

  let busy = 0;
  let caused = 0;
  let first = Number.NaN;
  let last = Number.NaN;
  let inWindow = 0;
  const own = new Map<string, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < window.from || t > window.to) continue;
    inWindow++;
    if (Number.isNaN(first)) first = t;
    last = t;
    const id = profile.samples[i]!;
    const frame = frameOf(id);
    if (frame === undefined || frame.functionName === '(idle)') continue;
    busy++;
    if (OWN.test(frame.url)) {
      const key = label(frame);
      own.set(key, (own.get(key) ?? 0) + 1);
    } else if (frame.functionName === 'arrayClone' && frame.url === 'node:events') {
      const emit = frameOf(parent.get(id) ?? -1);
      const caller = frameOf(parent.get(parent.get(id) ?? -1) ?? -1);
      if (emit?.functionName === 'emit' && caller?.functionName === 'parserOnIncoming') caused++;
    }
  }
  const lameduck = [...own.values()].reduce((a, b) => a + b, 0);
  const share = (n: number) => (busy === 0 ? Number.NaN : n / busy);
  return {
    busy,
    lameduck,
    share: share(lameduck),
    caused,
    causedShare: share(caused),
    top: [...own]
      .sort((a, b) => b[1] - a[1])
      .map(([frame, samples]) => ({ frame, samples, share: share(samples) })),
    intervalUs: inWindow > 1 ? (last - first) / (inWindow - 1) : Number.NaN,
  };
}

/**
 * Where a frame's function is in its source, `name (path:line)`: through its module's source map when
 * there is one. A function esbuild wrapped to keep its name (`__name(fn, "wrapper")`) is anonymous to
 * V8's profiler, so an unnamed frame is shown by its line of source instead (read from the file: tsx's
 * maps carry no source text).
 */
function sourceLabels(maps: Record<string, SourceMapPayload>, root: string): (frame: CallFrame) => string {
  const parsed = new Map<string, SourceMap>();
  const lines = new Map<string, string[]>();
  const sourceLine = (url: string, line: number) => {
    if (!lines.has(url)) {
      try {
        lines.set(url, fs.readFileSync(fileURLToPath(url), 'utf8').split('\n'));
      } catch {
        lines.set(url, []);
      }
    }
    return lines.get(url)?.[line]?.trim();
  };
  return (frame) => {
    const where = (line: number) => `${relative(frame.url, root)}:${line}`;
    const generated = `${frame.functionName || '(anonymous)'} (${where(frame.lineNumber + 1)})`;
    const payload = maps[frame.url];
    if (payload === undefined) return generated;
    const map = parsed.get(frame.url) ?? new SourceMap(payload);
    parsed.set(frame.url, map);
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber);
    if (!('originalLine' in entry)) return generated;
    const source = frame.functionName ? undefined : sourceLine(frame.url, entry.originalLine);
    const name = frame.functionName || (source ? `\`${source.slice(0, 60)}\`` : '(anonymous)');
    return `${name} (${where(entry.originalLine + 1)})`;
  };
}

function relative(url: string, root: string): string {
  const file = url.replace(/^file:\/\//, '');
  return file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file;
}
