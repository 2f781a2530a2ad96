// What `npm run bench -- --smoke` checks: that every scenario ran and produced figures, not what the
// figures are (a smoke run measures nothing worth reading). One invariant is checked because it holds
// on any machine: lameduck completes every request that was in flight when the shutdown began.
import { contenders } from './compare/contenders.js';
import { stacks } from './overhead/ab.js';
import type { Results } from './report/markdown.js';
import { methods } from './restart/methods.js';

export function smokeProblems(r: Results, svg: string | undefined): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  for (const stack of stacks) {
    const o = r.overhead?.find((x) => x.stack === stack);
    check(
      o !== undefined &&
        [...o.bare, ...o.lameduck].every((x) => x.rps > 0 && x.cpuPerReq > 0 && x.errors === 0),
      `overhead ${stack}: no clean run`,
    );
    check(o === undefined || o.profile.busy > 0, `overhead ${stack}: the profile has no busy sample`);
  }
  for (const c of contenders) {
    const run = r.compare?.runs[c]?.[0];
    check(run !== undefined, `compare ${c}: did not run`);
    if (run === undefined) continue;
    check(run.inFlight.sent > 0 && Number.isFinite(run.inFlight.exitMs), `compare ${c}: no in-flight tail`);
    check(Number.isFinite(run.keepAlive.exitMs), `compare ${c}: no keep-alive tail`);
    check(run.resets.before > 0, `compare ${c}: the load did not run`);
  }
  for (const c of ['lameduck', 'lameduck-fastify'] as const) {
    const t = r.compare?.runs[c]?.[0]?.inFlight;
    if (t === undefined) continue;
    check(
      t.completed === t.sent,
      `compare ${c}: ${t.sent - t.completed} in-flight requests did not complete`,
    );
    check(Number.isFinite(t.resolvedMs), `compare ${c}: shutdown() never resolved`);
  }
  for (const i of r.idle ?? []) {
    check(
      [...i.bare, ...i.lameduck].every((x) => Number.isFinite(x.closeMs) && x.perConnection > 0),
      `idle ${i.count}: no figures`,
    );
  }
  check((r.idle?.length ?? 0) === 2, 'idle: not both sizes ran');
  for (const m of methods) {
    const run = r.restart?.runs[m]?.[0];
    check(
      run !== undefined && run.samples.length > 0 && run.restartMs > 0 && run.steady.p99 > 0,
      `restart ${m}: did not run`,
    );
  }
  check(svg?.startsWith('<svg') === true && svg.includes('polyline'), 'the picture was not drawn');
  return problems;
}
