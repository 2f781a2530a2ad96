import { createLameduck, type Lameduck, type LameduckOptions } from '@lameduck/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConformanceFactory } from './types.js';

const quiet: LameduckOptions = { signals: false, exit: false, logger: false };

/**
 * Bad adapter options, each with fragments its message must hold: the option, the value given and what
 * is allowed. Every adapter resolves its options through the core's `resolveAdapterOptions()`, so every
 * adapter must answer these alike.
 */
function badOptions(shared: Lameduck): [what: string, options: unknown, fragments: string[]][] {
  return [
    [
      'core options next to a shared lifecycle',
      { lameduck: shared, timeout: 1000, drainDelay: 10 },
      ['Option "lameduck" cannot be combined with core options (timeout, drainDelay)'],
    ],
    [
      'a readiness path without a slash',
      { ...quiet, readinessPath: 'readyz' },
      ['Option "readinessPath" must be a path starting with "/"', 'got "readyz"'],
    ],
    ['a liveness path that is a number', { ...quiet, livenessPath: 42 }, ['Option "livenessPath"', 'got 42']],
    [
      'a health path with a query string',
      { ...quiet, readinessPath: '/readyz?x=1' },
      ['Option "readinessPath"', 'without a query string', 'got "/readyz?x=1"'],
    ],
    [
      'one path for both probes',
      { ...quiet, readinessPath: '/health', livenessPath: '/health' },
      ['"readinessPath" and "livenessPath" are both "/health"'],
    ],
    [
      'a lameduck that is not a lifecycle',
      { lameduck: {} },
      ['Option "lameduck" must be a lifecycle made by createLameduck(), got {}'],
    ],
    ['a lameduck that is null', { lameduck: null }, ['Option "lameduck"', 'got null']],
    [
      'a misspelt signal',
      { ...quiet, signals: ['SIGTREM'] },
      ['Option "signals" lists "SIGTREM"', 'not a signal name'],
    ],
    [
      'a signal node reserves',
      { ...quiet, signals: ['SIGUSR1'] },
      ['Option "signals" lists "SIGUSR1"', 'inspector'],
    ],
    ['a bad core option', { ...quiet, timeout: '10s' }, ['Option "timeout"', 'got "10s"']],
    [
      'an unknown option, listing every option the adapter takes',
      { ...quiet, timeOut: 5 },
      ['Unknown option "timeOut"', 'lameduck', 'livenessPath', 'readinessPath', 'timeout'],
    ],
    ['options that are not an object', 'fast', ['takes an object of options or nothing, got "fast"']],
  ];
}

/**
 * The adapter's options as a user meets them: bad ones refused when the adapter is built, with
 * `LAMEDUCK_ERR_OPTIONS_INVALID` and a message naming the option, the value given and what is
 * allowed; `false` health paths; a shared lifecycle. Registers nothing for a factory without
 * `buildAdapter` (the core alone validates in `createLameduck()`, tested in core).
 */
export function describeAdapterOptions(factory: ConformanceFactory): void {
  const build = factory.buildAdapter?.bind(factory);
  if (build === undefined) return;
  describe('adapter options', () => {
    const shared = createLameduck(quiet);
    afterAll(() => shared.dispose());
    const built: Lameduck[] = [];
    afterEach(() => {
      for (const lameduck of built.splice(0)) if (lameduck !== shared) lameduck.dispose();
    });

    for (const [what, options, fragments] of badOptions(shared)) {
      it(`rejects ${what}`, async () => {
        let error: unknown;
        try {
          built.push(await build(options));
        } catch (err) {
          error = err;
        }
        expect(error).toMatchObject({ code: 'LAMEDUCK_ERR_OPTIONS_INVALID' });
        for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
      });
    }

    it('takes false for "no health route"', async () => {
      built.push(await build({ ...quiet, readinessPath: false, livenessPath: false }));
    });

    it('uses a lifecycle given as "lameduck" instead of creating one', async () => {
      expect(await build({ lameduck: shared })).toBe(shared);
    });
  });
}
