// The demo: a deploy, twice. The same keep-alive traffic (20 busy clients, 10 slow requests in flight,
// 5 idle sockets) meets a shutdown (SIGTERM: naive `server.close()` vs lameduck) and a restart (a naive
// stop-then-start vs lameduck's keeper reloading its worker). It prints what the clients saw, writes a
// timeline picture, and exits 0 only when lameduck's runs lost nothing.
//   npm run demo                      (DEMO_OUTPUT=dir puts the picture elsewhere than demo-output/)
import fs from 'node:fs';
import path from 'node:path';
import type { Tally } from './demo/load.js';
import { Output } from './demo/output.js';
import { Children, root } from './demo/processes.js';
import {
  keeper,
  keeperRestartRun,
  lameduckServer,
  naiveRestartRun,
  naiveServer,
  type RunResult,
  type Server,
  shutdownRun,
} from './demo/runs.js';
import { timelineSvg } from './demo/timeline.js';

const out = new Output();
const ctx = { out, children: new Children() };

out.line(
  'lameduck demo: the same deploy traffic against the naive way and lameduck, for a shutdown and a restart.',
);
out.line(
  'Note: a 503 with Retry-After on an open keep-alive socket is a clean answer the client retries, not a failure.',
);

const results: RunResult[] = [];
const section = async (title: string, run: () => Promise<RunResult>) => {
  out.line(`\n━━ ${title} ━━`);
  const result = await run();
  results.push(result);
  report(result);
};

function tallyText(t: Tally): string {
  return `${t.ok} ok, ${t.retryAfter} 503 + Retry-After, ${t.refused} refused, ${t.reset} reset, ${t.other} other`;
}

function report(r: RunResult): void {
  out.from('result', r.took);
  out.from('result', `slow requests in flight: ${r.slow.ok}/${r.slowCount} answered 200`);
  out.from('result', `busy clients from then on: ${tallyText(r.busy)}`);
  for (const p of r.problems) out.from('result', `problem: ${p}`);
  const parts = [
    r.kind === 'restart' && r.busy.refused > 0 ? `${r.busy.refused} refused` : '',
    r.busy.reset > 0 ? `${r.busy.reset} reset` : '',
    r.busy.other > 0 ? `${r.busy.other} other` : '',
    r.slow.ok < r.slowCount ? `${r.slowCount - r.slow.ok} slow` : '',
  ].filter(Boolean);
  out.from('result', r.lost === 0 ? 'lost: none' : `lost: ${r.lost} requests (${parts.join(', ')})`);
}

// The lameduck server and the keeper boot while the naive server waits out its keep-alive timeout (an
// idle few seconds), which keeps the demo short; their output is shown in their own sections.
let lameduck: Server | undefined;
let keeping: Promise<Server> | undefined;
await section('shutdown 1/2 · naive: server.close() on SIGTERM', () =>
  shutdownRun(ctx, 'naive', naiveServer(ctx), () => {
    out.from('demo', 'meanwhile the next runs boot: the lameduck server, the keeper and its worker');
    lameduck = lameduckServer(ctx);
    keeping = keeper(ctx);
  }),
);
await section('shutdown 2/2 · lameduck on SIGTERM', () =>
  shutdownRun(ctx, 'lameduck', lameduck ?? lameduckServer(ctx)),
);
await section('restart 1/2 · naive: stop the old process, then start the new one', () =>
  naiveRestartRun(ctx),
);
await section('restart 2/2 · lameduck: the keeper (lameduck run) reloads on SIGHUP', async () =>
  keeperRestartRun(ctx, await (keeping ?? keeper(ctx))),
);

out.line('\n━━ summary ━━');
out.line(
  '  refused counts as lost in a restart (the service was down); after a shutdown it is the expected end.',
);
const header = ['run', 'ok', '503+RA', 'refused', 'reset', 'other', 'lost'];
const rows = results.map((r) => [
  `${r.kind} · ${r.method}`,
  ...[r.busy.ok + r.slow.ok, r.busy.retryAfter + r.slow.retryAfter, r.busy.refused + r.slow.refused]
    .concat([r.busy.reset + r.slow.reset, r.busy.other + r.slow.other, r.lost])
    .map(String),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
for (const row of [header, ...rows]) {
  out.line(
    `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`,
  );
}
for (const r of results) out.line(`  ${`${r.kind} · ${r.method}`.padEnd(widths[0]!)}  ${r.took}`);

const dir = path.resolve(process.env.DEMO_OUTPUT ?? path.join(root, 'demo-output'));
fs.mkdirSync(dir, { recursive: true });
const svgFile = path.join(dir, 'timeline.svg');
const panels = (kind: RunResult['kind']) =>
  results
    .filter((r) => r.kind === kind)
    .map((r) => ({ title: r.title, samples: r.samples, marks: r.marks, endAt: r.endAt }));
fs.writeFileSync(
  svgFile,
  timelineSvg(
    [
      { title: 'Shutdown: SIGTERM under keep-alive load', panels: panels('shutdown') },
      { title: 'Restart: the old process replaced under keep-alive load', panels: panels('restart') },
    ],
    'lameduck demo: answers per second through a shutdown and a restart, naive (left) and lameduck (right)',
  ),
);

const lameduckRuns = results.filter((r) => r.method === 'lameduck');
const ok = lameduckRuns.every((r) => r.lost === 0 && r.problems.length === 0);
const shown = path.relative(process.cwd(), svgFile);
out.line(`\n  timeline: ${shown.startsWith('..') || path.isAbsolute(shown) ? svgFile : shown}`);
out.line(
  ok
    ? `  lameduck lost nothing in either run; the demo took ${Math.round(performance.now() / 1_000)} s.`
    : '  lameduck lost requests or a run went wrong (see above): exit code 1.',
);
process.exitCode = ok ? 0 : 1;
