// Measures the fixed drain delay against the adaptive one in the Kubernetes simulation, for endpoint
// removals from 0.5 s to 8 s after the pod's deletion: requests lost and time from SIGTERM to exit.
// Prints a Markdown table (the one in README.md). About two minutes:
//   node --conditions=@lameduck/source --import tsx examples/kubernetes/measure-drain-delay.ts [runs]
import { deleteUnderLoad, manifestMs } from './scenario.js';

const max = manifestMs('DRAIN_DELAY');
const quiet = 1000;
const removals = [500, 1000, 2000, 4000, 8000];
const runs = Math.max(1, Math.min(5, Number(process.argv[2] ?? 1)));
const modes: { name: string; env: Record<string, string> }[] = [
  { name: `fixed ${max} ms`, env: {} },
  { name: `adaptive { max: ${max}, quiet: ${quiet} }`, env: { DRAIN_QUIET: String(quiet) } },
];

interface Row {
  removal: number;
  mode: string;
  lost: number[];
  requests: number[];
  exitMs: number[];
}

async function once(removal: number, env: Record<string, string>) {
  const stops: (() => Promise<void>)[] = [];
  try {
    const { termination, report } = await deleteUnderLoad(removal, env, (stop) => stops.push(stop));
    if (termination.exit.code !== 0) throw new Error(`pod exited with ${JSON.stringify(termination.exit)}`);
    return {
      lost: report.failures.length,
      requests: report.requests,
      exitMs: termination.exitedAt - termination.sigtermAt,
    };
  } finally {
    for (const stop of stops) await stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

const rows: Row[] = [];
for (const removal of removals) {
  for (const mode of modes) {
    const row: Row = { removal, mode: mode.name, lost: [], requests: [], exitMs: [] };
    for (let i = 0; i < runs; i++) {
      const r = await once(removal, mode.env);
      row.lost.push(r.lost);
      row.requests.push(r.requests);
      row.exitMs.push(r.exitMs);
      process.stderr.write(
        `removal ${removal} ms, ${mode.name}: ${r.lost} lost, exit ${Math.round(r.exitMs)} ms\n`,
      );
    }
    rows.push(row);
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
console.log(
  `| endpoint removal after | drain delay | requests lost | SIGTERM → exit (s)${runs > 1 ? `, median of ${runs} (range)` : ''} |`,
);
console.log('| ---: | --- | ---: | ---: |');
for (const r of rows) {
  const range = runs > 1 ? ` (${seconds(Math.min(...r.exitMs))}–${seconds(Math.max(...r.exitMs))})` : '';
  const lost = r.lost.reduce((a, b) => a + b, 0);
  const requests = r.requests.reduce((a, b) => a + b, 0);
  console.log(
    `| ${seconds(r.removal)} s | ${r.mode} | ${lost} of ${requests} | ${seconds(median(r.exitMs))}${range} |`,
  );
}
