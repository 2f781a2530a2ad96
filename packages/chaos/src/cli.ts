/**
 * `npm run chaos [-- --seed S] [--trials N | --trial K] [--profile short|long]`: the seeded chaos suite.
 * Prints its seed first; a violation prints the seed, the trial and a one-line replay command, and the
 * run exits 1. See the README for the trial model and the invariants.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { selfSignedCert, spawnSource } from '@lameduck/testkit';
import { checkLeak, checkTrial, type TrialCheck, type Verdict } from './check.js';
import type { LeakResult } from './leak.js';
import { type Avoidable, describePlan, planTrial } from './plan.js';
import { runTrial, type TrialRecord } from './trial.js';

/** `short`: about a minute on two cores, for CI. `long`: on demand, a few hundred trials. */
const profiles = {
  short: { trials: 10, jobs: 2, leakCycles: 1_000 },
  long: { trials: 300, jobs: 2, leakCycles: 5_000 },
} as const;
const avoidable: readonly Avoidable[] = ['hook-stall', 'h2-second-signal'];

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    trials: { type: 'string' },
    trial: { type: 'string' },
    profile: { type: 'string', default: 'short' },
    jobs: { type: 'string' },
    'leak-cycles': { type: 'string' },
    avoid: { type: 'string' },
    verbose: { type: 'boolean', short: 'v', default: false },
    debug: { type: 'boolean', default: false },
  },
});
const profile = profiles[values.profile as keyof typeof profiles];
if (profile === undefined) usage(`--profile must be short or long, got ${values.profile}`);
const count = (name: string, value: string | undefined, fallback: number, min = 0) => {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    usage(`--${name} must be a whole number ≥ ${min}, got ${value}`);
  return Number(value);
};
const seed = values.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : count('seed', values.seed, 0);
const avoid = new Set((values.avoid ?? '').split(',').filter(Boolean) as Avoidable[]);
for (const a of avoid) if (!avoidable.includes(a)) usage(`--avoid takes ${avoidable.join(', ')}, got ${a}`);
const trials =
  values.trial !== undefined
    ? [count('trial', values.trial, 0)]
    : Array.from({ length: count('trials', values.trials, profile.trials) }, (_, i) => i);
const jobs = count('jobs', values.jobs, values.trial !== undefined ? 1 : profile.jobs, 1);
// A single replayed trial skips the leak check unless asked for.
const leakCycles = count(
  'leak-cycles',
  values['leak-cycles'],
  values.trial !== undefined ? 0 : profile.leakCycles,
);
const avoidFlag = avoid.size > 0 ? ` --avoid ${[...avoid].join(',')}` : '';
const replay = (trial: number) => `npm run chaos -- --seed ${seed} --trial ${trial}${avoidFlag}`;

console.log(
  `chaos: seed ${seed}, ${trials.length} trials, ${jobs} at a time, ${leakCycles} leak cycles (replay the run: npm run chaos -- --seed ${seed} --trials ${trials.length}${avoidFlag})`,
);
const started = performance.now();

/** The leak check runs beside the trials, in its own process. */
function leakCheck(): Promise<LeakResult | string> {
  const file = fileURLToPath(new URL('./leak.ts', import.meta.url));
  const child = spawnSource(file, { nodeOptions: ['--expose-gc'], args: ['--cycles', String(leakCycles)] });
  // Read once its output has closed too: 'exit' can come before the last of stdout.
  return Promise.all([child.exited, child.closed]).then(([{ code }]) => {
    const line = child.stdout().trim().split('\n').at(-1) ?? '';
    if (code === 0 && line.startsWith('{')) return JSON.parse(line) as LeakResult;
    return `the leak check exited with ${code}: ${(child.stderr() || child.stdout()).slice(-2_000)}`;
  });
}
const leak = leakCycles > 0 ? leakCheck() : undefined;

function print(trial: number, record: TrialRecord, check: TrialCheck): void {
  const lines = [
    `trial ${trial} ${check.violations.length ? 'FAIL' : 'ok'} ${(record.wallMs / 1_000).toFixed(1)}s  ${describePlan(record.plan)}`,
  ];
  if (values.verbose || values.debug) {
    const mix = [...check.verdicts].map(([v, n]) => `${v} ${n}`).join(', ');
    const slack = check.minSlack === undefined ? 'no process reported' : `${Math.round(check.minSlack)} ms`;
    lines.push(`    ${mix}; least exit slack ${slack}`);
  }
  if (values.debug) lines.push(...debugLines(record, check));
  if (check.violations.length > 0) {
    for (const v of check.violations) lines.push(`  ✗ ${v}`);
    lines.push(`  seed ${seed}, trial ${trial}; replay: ${replay(trial)}`);
  }
  console.log(lines.join('\n'));
}

/** The timeline of a trial and every attempt that did not simply succeed, relative to the load's start. */
function debugLines(record: TrialRecord, check: TrialCheck): string[] {
  const rel = (t: unknown) => Math.round(Number(t) - record.t0);
  const out: string[] = [];
  const marks = [
    'listening',
    'shutdown',
    'listenerClose',
    'drain',
    'deadline',
    'forceExit',
    'exit',
    'crash',
    'clientError',
  ];
  for (const l of record.lines) {
    if (marks.includes(String(l.chaos))) {
      out.push(
        `    [${rel(l.t)}] pid ${l.pid} ${l.chaos} ${String(l.code ?? l.reason ?? l.error ?? '')} ${l.port ?? ''} ${l.message ?? ''}`,
      );
    } else if (l.chaos === 'report') {
      const r = l.report as { requests: object; sockets: object };
      out.push(
        `    [${rel(l.t)}] pid ${l.pid} report ${JSON.stringify(r.requests)} ${JSON.stringify(r.sockets)}`,
      );
    } else if (l.chaos === undefined && typeof l.msg === 'string') {
      out.push(`    [wall ${String(l.time).slice(11, 23)}] keeper: ${l.msg}`);
    }
  }
  for (const s of record.signals) out.push(`    [${rel(s.t)}] runner sent ${s.signal} to ${s.pid}`);
  // Every attempt that went over a connection where something went wrong, successes included.
  const suspect = new Set(check.detail.filter((d) => d.verdict === 'violation').map((d) => d.attempt.port));
  for (const d of check.detail) {
    if (d.verdict === 'ok' && !suspect.has(d.attempt.port)) continue;
    const a = d.attempt;
    out.push(
      `    #${a.id} ${d.verdict}: ${a.kind}/${a.route} ${a.result} ${a.status ?? ''} connect@${rel(a.connectAt)} sent@${rel(a.startedAt)} end@${rel(a.endedAt)} port ${a.port ?? '-'} seen ${d.seenBy ?? '-'} ran ${d.ranBy ?? '-'} accepted ${d.acceptedBy ?? '-'} ${a.error ?? ''}`,
    );
  }
  return out;
}

const tls = selfSignedCert();
if (tls === undefined) console.log('chaos: openssl is missing: HTTPS and HTTP/2 trials cannot run');
const totals = new Map<Verdict, number>();
const failed: number[] = [];
const queue = [...trials];
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let trial = queue.shift(); trial !== undefined; trial = queue.shift()) {
      const record = await runTrial(planTrial(seed, trial, avoid), tls);
      const check = checkTrial(record);
      for (const [v, n] of check.verdicts) totals.set(v, (totals.get(v) ?? 0) + n);
      if (check.violations.length > 0) failed.push(trial);
      print(trial, record, check);
    }
  }),
);
const leakResult = await leak;
const leakViolations = leakResult === undefined ? [] : checkLeak(leakResult);
const wall = ((performance.now() - started) / 1_000).toFixed(1);
console.log(`\nchaos: seed ${seed}: ${trials.length} trials in ${wall}s, ${failed.length} with violations`);
console.log(`  outcomes: ${[...totals].map(([v, n]) => `${v} ${n}`).join(', ')}`);
if (typeof leakResult === 'object') {
  const mb = (n: number) => (n / 1_048_576).toFixed(2);
  const b = leakResult.baseline;
  const f = leakResult.final;
  console.log(
    `  leak check: ${leakResult.cycles} cycles in ${(leakResult.ms / 1_000).toFixed(1)}s; fds ${b.fds} → ${f.fds}, active resources ${JSON.stringify(b.resources)} → ${JSON.stringify(f.resources)}, heap ${mb(b.heap)} → ${mb(f.heap)} MiB`,
  );
}
const parseErrors = totals.get('node-parse-error') ?? 0;
if (parseErrors > 0) {
  console.log(
    `  note: ${parseErrors} requests lost to a node parse error (clientError) while serving, before any shutdown: not the drain's (see the README)`,
  );
}
for (const v of leakViolations) console.log(`  ✗ leak check: ${v}`);
if (failed.length > 0) {
  console.log(
    `  replay: ${failed
      .sort((a, b) => a - b)
      .map(replay)
      .join('\n          ')}`,
  );
}
if (failed.length > 0 || leakViolations.length > 0) process.exitCode = 1;
