// The load generator of the per-request cost benchmark: `load.ts <connections>`, a long-lived process of
// its own (so it never shares CPU time with a server or with the bench), driven by the bench one slice
// at a time. Each line on stdin, `{"port":N,"ms":M}`, runs autocannon against 127.0.0.1:N for about M ms
// and is answered by one line on stdout:
// `{"slice":true,"requests":…,"ms":…,"p50":…,"p99":…,"errors":…}`.
// It prints `{"ready":true}` once autocannon is loaded. Slices run one at a time, in the order asked.
import { createRequire } from 'node:module';

/** The part of autocannon's programmatic API used here (the package ships no types). */
interface Instance extends PromiseLike<{ requests: { total: number }; errors: number; non2xx: number }> {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, responseMs: number) => void,
  ): void;
}
type Autocannon = (options: Record<string, unknown>) => Instance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const connections = Number(process.argv[2] ?? 32);

// autocannon checks its stop flag only when it samples (every `sampleInt` ms; 1 s by default), so a
// 0.5 s `duration` would run a whole second. Sampling every 10 ms ends a slice within 10 ms of its
// duration; the slice's own clock below is what the rate is computed from, so the overshoot (the same
// for both servers) only lengthens the slice. `amount` would not help: it also ends at a sample tick,
// and a fixed count makes a slow spell of the machine stretch one server's slice and not the other's.
const SAMPLE_MS = 10;

/**
 * One slice. Every slice opens its own `connections` keep-alive connections (autocannon cannot hand
 * its sockets from one run to the next), the same for both servers; connecting 32 sockets on loopback
 * is a fraction of a millisecond against a slice of hundreds. Latency is taken from each response's
 * own time (a float in ms): autocannon's histogram keeps whole milliseconds, too coarse for a p50 of
 * one or two.
 */
async function slice(port: number, ms: number): Promise<Record<string, unknown>> {
  const latencies: number[] = [];
  const started = performance.now();
  const run = autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections,
    duration: ms / 1_000,
    sampleInt: SAMPLE_MS,
  });
  run.on('response', (_client, _status, _bytes, responseMs) => {
    latencies.push(responseMs);
  });
  const result = await run;
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)];
  return {
    slice: true,
    port,
    requests: result.requests.total,
    ms: elapsed,
    p50: at(0.5) ?? Number.NaN,
    p99: at(0.99) ?? Number.NaN,
    errors: result.errors + result.non2xx,
  };
}

// One slice at a time: lines that arrive while a slice runs wait their turn.
let queue: Promise<void> = Promise.resolve();
let pending = '';
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    const { port, ms } = JSON.parse(line) as { port: number; ms: number };
    queue = queue.then(async () => {
      process.stdout.write(`${JSON.stringify(await slice(port, ms))}\n`);
    });
  }
});
// The bench closing stdin (or going away) ends this process once the slice in progress is done.
process.stdin.on('end', () => {
  void queue.then(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
