// Medians with their spread, percentiles, and the alternation every comparison uses.

/** The median of a set of runs with the smallest and largest value (the spread). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s.at(-1)!, n: s.length };
}

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Runs every variant once per round, in the same order each round (A, B, A, B …; with more variants
 * A, B, C, A, B, C …), so that a slow spell of the machine hits every variant alike. `onRun` reports
 * progress. Returns each variant's runs in round order.
 */
export async function alternate<V extends string, R>(
  rounds: number,
  variants: readonly V[],
  measure: (variant: V, round: number) => Promise<R>,
  onRun?: (variant: V, round: number, result: R) => void,
): Promise<Record<V, R[]>> {
  const out = Object.fromEntries(variants.map((v) => [v, [] as R[]])) as Record<V, R[]>;
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const result = await measure(variant, round);
      out[variant].push(result);
      onRun?.(variant, round, result);
    }
  }
  return out;
}
