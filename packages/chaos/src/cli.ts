/**
 * `npm run chaos [-- --seed S] [--trials N | --trial K] [--profile short|long]`: the seeded chaos suite.
 * Prints its seed first; a violation prints the seed, the trial and a one-line replay command, and the
 * run exits 1.
 */
import { parseArgs } from 'node:util';
import { selfSignedCert } from '@lameduck/conformance';
import { checkTrial, type Verdict } from './check.js';
import { describePlan, planTrial } from './plan.js';
import { runTrial } from './trial.js';

const profiles = {
  short: { trials: 12 },
  long: { trials: 200 },
} as const;

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    trials: { type: 'string' },
    trial: { type: 'string' },
    profile: { type: 'string', default: 'short' },
    verbose: { type: 'boolean', short: 'v', default: false },
    debug: { type: 'boolean', default: false },
  },
});
const profile = profiles[values.profile as keyof typeof profiles];
if (profile === undefined) {
  process.stderr.write(`chaos: --profile must be short or long, got ${values.profile}\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : Number(values.seed) >>> 0;
const trials =
  values.trial !== undefined
    ? [Number(values.trial)]
    : Array.from({ length: Number(values.trials ?? profile.trials) }, (_, i) => i);
const replay = (trial: number) => `npm run chaos -- --seed ${seed} --trial ${trial}`;

console.log(
  `chaos: seed ${seed}, ${trials.length} trials (replay all: npm run chaos -- --seed ${seed} --trials ${trials.length})`,
);
const tls = selfSignedCert();
const started = performance.now();
const totals = new Map<Verdict, number>();
const failed: number[] = [];
for (const trial of trials) {
  const plan = planTrial(seed, trial);
  const record = await runTrial(plan, tls);
  const check = checkTrial(record);
  for (const [v, n] of check.verdicts) totals.set(v, (totals.get(v) ?? 0) + n);
  const mix = [...check.verdicts].map(([v, n]) => `${v} ${n}`).join(', ');
  console.log(
    `trial ${trial} ${check.violations.length ? 'FAIL' : 'ok'} ${(record.wallMs / 1_000).toFixed(1)}s  ${describePlan(plan)}${values.verbose ? `\n    ${mix}; min exit slack ${Math.round(check.minSlack ?? 0)} ms` : ''}`,
  );
  if (values.debug) {
    const t0 = record.t0;
    const rel = (t: unknown) => Math.round(Number(t) - t0);
    for (const l of record.lines) {
      if (
        [
          'listening',
          'shutdown',
          'listenerClose',
          'drain',
          'deadline',
          'forceExit',
          'exit',
          'crash',
        ].includes(String(l.chaos))
      ) {
        console.log(`    [${rel(l.t)}] pid ${l.pid} ${l.chaos} ${l.code ?? l.reason ?? ''}`);
      } else if (l.chaos === 'report') {
        const r = l.report as { requests: object; sockets: object; deadlineReached: boolean };
        console.log(
          `    [${rel(l.t)}] pid ${l.pid} report ${JSON.stringify(r.requests)} ${JSON.stringify(r.sockets)}`,
        );
      } else if (typeof l.msg === 'string' && l.chaos === undefined) {
        console.log(`    [${rel(l.time === undefined ? 0 : Date.parse(String(l.time)))}] keeper ${l.msg}`);
      }
    }
    for (const s of record.signals) console.log(`    [${rel(s.t)}] runner sent ${s.signal} to ${s.pid}`);
    for (const d of check.detail) {
      if (d.verdict === 'ok') continue;
      const a = d.attempt;
      console.log(
        `    #${a.id} ${d.verdict} ${a.kind}/${a.route} ${a.result} ${a.status ?? ''} conn@${rel(a.connectAt)} start@${rel(a.startedAt)} end@${rel(a.endedAt)} port ${a.port ?? '-'} seen ${d.seenBy ?? '-'} ran ${d.ranBy ?? '-'} accepted ${d.acceptedBy ?? '-'} ${a.error ?? ''}`,
      );
    }
  }
  if (check.violations.length > 0) {
    failed.push(trial);
    for (const v of check.violations) console.log(`  ✗ ${v}`);
    console.log(`  seed ${seed}, trial ${trial}; replay: ${replay(trial)}`);
  }
}
const wall = ((performance.now() - started) / 1_000).toFixed(1);
console.log(`\nchaos: seed ${seed}: ${trials.length} trials in ${wall}s, ${failed.length} with violations`);
console.log(`  outcomes: ${[...totals].map(([v, n]) => `${v} ${n}`).join(', ')}`);
if (failed.length > 0) {
  console.log(`  replay: ${failed.map(replay).join('\n          ')}`);
  process.exitCode = 1;
}
