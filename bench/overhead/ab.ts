// Per-request cost, bare vs lameduck, pairs alternated: `ab.ts <stack> [pairs] [seconds]`. Each run
// starts a fresh server process and drives it with autocannon in a process of its own.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const [stack = 'node', pairsArg = '5', secondsArg = '5', connArg = '32'] = process.argv.slice(2);

interface Run {
  rps: number;
  /** Server CPU microseconds per request (warm-up included in both the time and the count). */
  cpuPerReq: number;
  p50: number;
  p99: number;
  errors: number;
}

async function startServer(mode: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@lameduck/source', '--import', 'tsx', path.join(here, 'server.ts'), stack, mode],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: (JSON.parse(line.toString()) as { port: number }).port };
}

async function measure(mode: string): Promise<Run> {
  const { child, port } = await startServer(mode);
  try {
    const ac = spawn(
      process.execPath,
      [
        path.join(root, 'node_modules/autocannon/autocannon.js'),
        '-c',
        connArg,
        '-d',
        secondsArg,
        '-j',
        '--warmup',
        '[',
        '-c',
        connArg,
        '-d',
        '1',
        ']',
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    ac.stdout!.on('data', (c: Buffer) => {
      out += c;
    });
    await once(ac, 'exit');
    child.kill('SIGTERM');
    const [cpuLine] = (await once(child.stdout!, 'data')) as [Buffer];
    const { cpuMicros } = JSON.parse(cpuLine.toString()) as { cpuMicros: number };
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
      requests: { average: number; total: number };
      warmup?: { requests: { total: number } };
      latency: { p50: number; p99: number };
      errors: number;
      non2xx: number;
    };
    const served = r.requests.total + (r.warmup?.requests.total ?? 0);
    return {
      rps: r.requests.average,
      cpuPerReq: cpuMicros / served,
      p50: r.latency.p50,
      p99: r.latency.p99,
      errors: r.errors + r.non2xx,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
const ratios: number[] = [];
const cpuRatios: number[] = [];
const bare: Run[] = [];
const ld: Run[] = [];
for (let i = 0; i < Number(pairsArg); i++) {
  const a = await measure('bare');
  const b = await measure('lameduck');
  bare.push(a);
  ld.push(b);
  ratios.push(b.rps / a.rps);
  cpuRatios.push(b.cpuPerReq / a.cpuPerReq);
  console.log(
    `pair ${i + 1}: bare ${a.rps.toFixed(0)} req/s p99 ${a.p99} ms | lameduck ${b.rps.toFixed(0)} req/s p99 ${b.p99} ms | kept ${((100 * b.rps) / a.rps).toFixed(1)} % | cpu/req ${a.cpuPerReq.toFixed(1)} → ${b.cpuPerReq.toFixed(1)} µs`,
  );
}
console.log(
  `${stack}: bare ${median(bare.map((r) => r.rps)).toFixed(0)} req/s, lameduck ${median(ld.map((r) => r.rps)).toFixed(0)} req/s, kept ${(100 * median(ratios)).toFixed(1)} % (${(100 * Math.min(...ratios)).toFixed(1)}–${(100 * Math.max(...ratios)).toFixed(1)} %)`,
);
console.log(
  `${stack}: server CPU per request +${(100 * (median(cpuRatios) - 1)).toFixed(1)} % (${(100 * (Math.min(...cpuRatios) - 1)).toFixed(1)} to ${(100 * (Math.max(...cpuRatios) - 1)).toFixed(1)} %)`,
);
