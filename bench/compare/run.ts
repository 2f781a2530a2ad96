// Side by side, same run, same scenarios: every contender through the in-flight drain tail, the
// keep-alive drain tail and the shutdown under keep-alive load, contenders in rotation each round.
import type { BenchContext } from '../context.js';
import { inFlightTail, keepAliveTail, type TailRun } from '../drain/tail.js';
import { alternate } from '../stats.js';
import { type Contender, contenders } from './contenders.js';
import { type ResetsRun, resetsUnderLoad } from './resets.js';

export interface CompareRun {
  inFlight: TailRun;
  keepAlive: TailRun;
  resets: ResetsRun;
}

export interface CompareSettings {
  /** A server still running this long after SIGTERM is killed (ms). */
  capMs: number;
  inFlight: { count: number; ms: number };
  load: { clients: number; warmRequests: number; afterMs: number };
}

export function compareSettings(smoke: boolean): CompareSettings {
  return smoke
    ? {
        capMs: 2_000,
        inFlight: { count: 4, ms: 100 },
        load: { clients: 20, warmRequests: 200, afterMs: 300 },
      }
    : {
        capMs: 6_500,
        inFlight: { count: 10, ms: 300 },
        load: { clients: 50, warmRequests: 1_000, afterMs: 600 },
      };
}

const ms = (v: number) => (Number.isNaN(v) ? '–' : `${v.toFixed(1)} ms`);

export async function compare(
  ctx: BenchContext,
): Promise<{ settings: CompareSettings; runs: Partial<Record<Contender, CompareRun[]>> }> {
  const settings = compareSettings(ctx.smoke);
  const runs = await alternate(
    ctx.rounds,
    contenders.filter((c) => ctx.wants(c)),
    async (contender) => ({
      inFlight: await inFlightTail(contender, { capMs: settings.capMs, ...settings.inFlight }),
      keepAlive: await keepAliveTail(contender, { capMs: settings.capMs }),
      resets: await resetsUnderLoad(contender, settings.load),
    }),
    (contender, round, r) =>
      ctx.log(
        `compare ${contender} round ${round + 1}: in-flight tail ${ms(r.inFlight.resolvedMs)} / exit ${r.inFlight.capped ? 'capped' : ms(r.inFlight.exitMs)}; keep-alive tail ${ms(r.keepAlive.resolvedMs)} / exit ${r.keepAlive.capped ? 'capped' : ms(r.keepAlive.exitMs)}; under load ${r.resets.after.reset} reset, ${r.resets.after.other} other, ${r.resets.after.rejected} rejected, ${r.resets.after.ok} ok`,
      ),
  );
  return { settings, runs };
}
