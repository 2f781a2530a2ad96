// `npm run test:stress`: the whole test suite with one busy-loop process per core running beside it, so
// that every test is run the way a loaded CI machine runs it. Extra arguments go to vitest
// (`npm run test:stress -- packages/core/test/restart`). The exit code is vitest's.
import { spawn } from 'node:child_process';
import os from 'node:os';

const cores = os.availableParallelism();
// Each busy loop ends on its own after 30 minutes, even if this script is killed before it can stop it.
const busy = `const end = Date.now() + 30 * 60_000; while (Date.now() < end) {}`;
const loops = Array.from({ length: cores }, () => spawn(process.execPath, ['-e', busy], { stdio: 'ignore' }));
const stopLoops = () => {
  for (const loop of loops) loop.kill('SIGKILL');
};
process.on('exit', stopLoops);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopLoops();
    process.exit(130);
  });
}

console.log(`test:stress: ${cores} busy-loop processes beside the suite`);
const started = performance.now();
const vitest = spawn(
  process.execPath,
  ['./node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
vitest.on('exit', (code, signal) => {
  stopLoops();
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.log(`test:stress: vitest ${signal ?? `exited ${code}`} after ${seconds} s under load`);
  process.exit(code ?? 1);
});
