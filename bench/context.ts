// What every section of the benchmark gets from bench/run.ts.

export interface BenchContext {
  /** Rounds of every alternation (pairs A, B, A, B …): at least 5 in a full run, 1 in the smoke run. */
  rounds: number;
  /** Tiny durations and counts: checks that each scenario runs, measures nothing worth reading. */
  smoke: boolean;
  /** Whether `item` of this section was selected (`--only section:item`; everything by default). */
  wants(item: string): boolean;
  /** A progress line on stderr. */
  log(line: string): void;
}
