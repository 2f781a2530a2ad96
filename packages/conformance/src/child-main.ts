/**
 * Entry point of a conformance child process: loads one factory, starts its app the zero-config way
 * (`mode: 'process'`, signals and exit on) and reports on stdout: `listening <port>`, `slow started`,
 * `state <state>`. Writing `release` on stdin lets held slow requests finish.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { streamChunks } from './handlers.js';
import type { ConformanceFactory } from './types.js';

interface ChildConfig {
  url: string;
  exportName: string;
  options: Record<string, unknown>;
}

const config = JSON.parse(process.env.LAMEDUCK_CONFORMANCE ?? '{}') as ChildConfig;
const factory = (await import(config.url))[config.exportName] as ConformanceFactory;

let release!: () => void;
const released = new Promise<void>((resolve) => {
  release = resolve;
});
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === 'release') release();
});

const started = await factory.start({
  mode: 'process',
  options: config.options,
  handlers: {
    fast: () => 'fast',
    slow: async () => {
      process.stdout.write('slow started\n');
      await released;
      return 'slow';
    },
    stream: () => Readable.from(streamChunks),
  },
});
started.lameduck.on('state', ({ to }) => process.stdout.write(`state ${to}\n`));
process.stdout.write(`listening ${new URL(started.url).port}\n`);
