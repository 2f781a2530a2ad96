// npm run bench: measures lameduck on loopback and writes BENCHMARKS.md (with bench/results/*.svg).
//   npm run bench                      every section, 5 rounds, writes BENCHMARKS.md (about 10 minutes)
//   npm run bench -- --smoke           every scenario once with tiny durations; checks that each ran
//   npm run bench -- --only idle:10000 one section (overhead, compare, idle, restart), or one item of it
// Sections: overhead (per-request cost, bench/overhead), compare (drain tails and shutdown under load
// for lameduck and the other packages, bench/drain + bench/compare; the drain-tail section of the report
// is its lameduck rows), idle (idle sockets at scale, bench/idle), restart (bench/restart).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './child.js';
import { compare } from './compare/run.js';
import type { BenchContext } from './context.js';
import { idle } from './idle/measure.js';
import { overhead } from './overhead/ab.js';
import { machine } from './report/machine.js';
import { markdown, type Results } from './report/markdown.js';
import { timelineSvg } from './report/svg.js';
import { restarts } from './restart/scenario.js';
import { smokeProblems } from './smoke.js';

const sections = ['overhead', 'compare', 'idle', 'restart'] as const;
type Section = (typeof sections)[number];

const USAGE = `Usage: npm run bench -- [options]

  --smoke          every scenario once, tiny durations; checks that each ran; writes nothing unless --out
  --only S[:ITEM]  only section S (${sections.join(', ')}), or one item of it (overhead:express,
                   compare:stoppable, idle:10000, restart:pm2); repeatable; writes nothing unless --out
  --rounds N       rounds of every alternation (default 5; 1 with --smoke)
  --out FILE       write the report here (default BENCHMARKS.md for a full run); the picture goes to
                   bench/results/restart-timeline.svg beside the default report, FILE-timeline.svg otherwise
  --note TEXT      a line at the top of the report (for example, what else ran on the machine)
  -h, --help       this help`;

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string' },
    out: { type: 'string' },
    note: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const only = values.only.map((o) => {
  const [section, item] = o.split(':') as [string, string | undefined];
  if (!sections.includes(section as Section)) {
    console.error(`bench: unknown section "${section}"; use one of ${sections.join(', ')}\n\n${USAGE}`);
    process.exit(2);
  }
  return { section: section as Section, item };
});
const rounds = Number(values.rounds ?? (values.smoke ? 1 : 5));
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`bench: --rounds must be a positive integer, got ${values.rounds}`);
  process.exit(2);
}
const defaultOut = path.join(root, 'BENCHMARKS.md');
const out = values.out ?? (values.smoke || only.length > 0 ? undefined : defaultOut);

const started = performance.now();
const log = (line: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1_000).toFixed(0).padStart(4)} s] ${line}\n`);
const context = (section: Section): BenchContext => ({
  rounds,
  smoke: values.smoke,
  wants: (item) =>
    only.length === 0 || only.some((o) => o.section === section && (o.item === undefined || o.item === item)),
  log,
});
const selected = (section: Section) => only.length === 0 || only.some((o) => o.section === section);

const results: Results = {
  startedAt: new Date(),
  wallSeconds: 0,
  rounds,
  machine: machine(),
  note: values.note,
};
log(
  `${values.smoke ? 'smoke run' : `${rounds} rounds`}; node ${process.version}, ${results.machine.cores} cores`,
);
if (selected('overhead')) results.overhead = await overhead(context('overhead'));
if (selected('compare')) results.compare = await compare(context('compare'));
if (selected('idle')) results.idle = await idle(context('idle'));
if (selected('restart')) results.restart = await restarts(context('restart'));
results.wallSeconds = (performance.now() - started) / 1_000;

const keeper = results.restart?.runs.keeper?.at(-1);
const naive = results.restart?.runs.naive?.at(-1);
const pm2 = results.restart?.runs.pm2?.at(-1);
const svg =
  keeper && naive && pm2
    ? timelineSvg([
        { title: "lameduck's keeper: `lameduck reload`, then SIGTERM to the keeper", run: keeper },
        { title: 'naive: stop, then start; then stop', run: naive },
        { title: 'pm2 reload (cluster mode), then pm2 stop', run: pm2 },
      ])
    : undefined;

if (out !== undefined) {
  const svgFile =
    svg === undefined
      ? undefined
      : path.resolve(out) === defaultOut
        ? path.join(root, 'bench/results/restart-timeline.svg')
        : `${path.resolve(out).replace(/\.md$/, '')}-timeline.svg`;
  if (svgFile !== undefined && svg !== undefined) {
    fs.mkdirSync(path.dirname(svgFile), { recursive: true });
    fs.writeFileSync(svgFile, svg);
    results.svg = path.relative(path.dirname(path.resolve(out)), svgFile);
  }
  fs.writeFileSync(out, markdown(results));
  log(
    `wrote ${path.relative(process.cwd(), out)}${svgFile ? ` and ${path.relative(process.cwd(), svgFile)}` : ''}`,
  );
} else {
  process.stdout.write(markdown(results));
}

if (values.smoke) {
  const problems = smokeProblems(results, svg);
  if (problems.length > 0) {
    log(`smoke: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  log('smoke: every scenario ran');
}
log(`done in ${results.wallSeconds.toFixed(0)} s`);
process.exit(0);
