import http from 'node:http';
import {
  createLameduck,
  type HandleOptions,
  isLameduckError,
  type Lameduck,
  type LameduckOptions,
  type RequestListener,
  resolveAdapterOptions,
} from '@lameduck/core';
import { afterEach, describe, expect, it } from 'vitest';
import { describeValue } from '../src/describe-value.js';

const cleanup: (() => unknown)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

function lifecycle(options: LameduckOptions = {}): Lameduck {
  const lameduck = createLameduck({ signals: false, logger: false, ...options });
  cleanup.push(() => lameduck.dispose());
  return lameduck;
}

/** The error `fn` throws synchronously; fails the test when it throws nothing or a foreign error. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(isLameduckError(err)).toBe(true);
    return err as { code: string; message: string };
  }
  throw new Error('expected a throw');
}

const OPTIONS = 'LAMEDUCK_ERR_OPTIONS_INVALID';
const HOOK = 'LAMEDUCK_ERR_HOOK_INVALID';
const noop = () => {};

describe('createLameduck() signals', () => {
  // [signals, message fragments]: each names the option, the value given and why or what is allowed.
  const bad: [unknown, string[]][] = [
    [['SIGTREM'], ['"signals"', '"SIGTREM"', 'not a signal name on this platform', '"SIGTERM"']],
    [
      ['SIGTERM', 'sigint'],
      ['"signals"', '"sigint"', 'not a signal name'],
    ],
    [['TERM'], ['"signals"', '"TERM"', 'not a signal name']],
    [['toString'], ['"signals"', '"toString"', 'not a signal name']],
    [[''], ['"signals"', 'lists ""', 'not a signal name']],
    [[15], ['"signals"', 'lists 15', 'not a signal name']],
    [[null], ['"signals"', 'lists null']],
    [['SIGUSR1'], ['"signals"', '"SIGUSR1"', 'reserves to start the inspector', 'use signals such as']],
    [['SIGKILL'], ['"signals"', '"SIGKILL"', 'cannot be caught']],
    [['SIGSTOP'], ['"signals"', '"SIGSTOP"', 'cannot be caught']],
    [['SIGSEGV'], ['"signals"', '"SIGSEGV"', 'cannot safely run a listener']],
    [['SIGBUS'], ['"signals"', '"SIGBUS"', 'cannot safely run a listener']],
    [['SIGFPE'], ['"signals"', '"SIGFPE"', 'cannot safely run a listener']],
    [['SIGILL'], ['"signals"', '"SIGILL"', 'cannot safely run a listener']],
    [['SIGPROF'], ['"signals"', '"SIGPROF"', 'profiler']],
    ['SIGTERM', ['"signals" must be false or an array', 'got "SIGTERM"']],
    [true, ['"signals" must be false or an array', 'got true']],
  ];
  for (const [signals, fragments] of bad) {
    it(`rejects signals: ${describeValue(signals)}`, () => {
      const err = thrown(() => createLameduck({ signals, logger: false } as LameduckOptions));
      expect(err.code).toBe(OPTIONS);
      for (const fragment of fragments) expect(err.message).toContain(fragment);
    });
  }

  it('accepts the catchable signals node leaves to applications, each once', () => {
    const before = process.listenerCount('SIGHUP');
    const lameduck = lifecycle({ signals: ['SIGHUP', 'SIGUSR2', 'SIGHUP', 'SIGVTALRM'], exit: false });
    expect(process.listenerCount('SIGHUP')).toBe(before + 1);
    lameduck.dispose();
    expect(process.listenerCount('SIGHUP')).toBe(before);
    expect(() => lifecycle({ signals: [] })).not.toThrow();
  });
});

describe('createLameduck() values in messages', () => {
  // Every kind of value prints readably in the message of a numeric option.
  const values: [unknown, string][] = [
    ['', 'got "".'],
    ['10s', 'got "10s".'],
    [{}, 'got {}.'],
    [{ ms: 10 }, 'got { ms: 10 }.'],
    [[1, 2], 'got [1, 2].'],
    [() => 10, 'got a function.'],
    [Number, 'got a function (Number).'],
    [null, 'got null.'],
    [true, 'got true.'],
    [Number.NaN, 'got NaN.'],
    [-1, 'got -1.'],
    [10n, 'got 10n.'],
    [new Date(0), 'got a Date.'],
  ];
  for (const [value, fragment] of values) {
    it(`prints timeout: ${describeValue(value)}`, () => {
      const err = thrown(() => createLameduck({ timeout: value } as LameduckOptions));
      expect(err.code).toBe(OPTIONS);
      expect(err.message).toContain('Option "timeout" must be a number of milliseconds');
      expect(err.message).toContain(fragment);
    });
  }

  const notObjects: [unknown, string][] = [
    ['fast', '"fast"'],
    [null, 'null'],
    [[], '[]'],
    [5, '5'],
  ];
  for (const [options, shown] of notObjects) {
    it(`rejects options ${shown}`, () => {
      const err = thrown(() => createLameduck(options as LameduckOptions));
      expect(err.code).toBe(OPTIONS);
      expect(err.message).toBe(`createLameduck() takes an object of options or nothing, got ${shown}.`);
    });
  }
});

describe('describeValue()', () => {
  const cases: [unknown, string][] = [
    ['', '""'],
    ['x"y', '"x\\"y"'],
    ['a'.repeat(50), `"${'a'.repeat(40)}…"`],
    [undefined, 'undefined'],
    [null, 'null'],
    [0, '0'],
    [Symbol('s'), 'Symbol(s)'],
    [{}, '{}'],
    [Object.create(null), '{}'],
    [{ a: 1, 'b-c': 'x', d: {}, e: [1] }, '{ a: 1, "b-c": "x", d: {}, … }'],
    [{ nested: { deep: 1 }, list: [1], fn: noop }, '{ nested: {…}, list: […], fn: a function }'],
    [['SIGTREM'], '["SIGTREM"]'],
    [[1, 2, 3, 4], '[1, 2, 3, …]'],
    [[], '[]'],
    [noop, 'a function (noop)'],
    [new Map(), 'a Map'],
    [new Error('x'), 'an Error'],
    [new (class {})(), 'an object'],
    [
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error('trap');
          },
        },
      ),
      'an object',
    ],
  ];
  for (const [value, shown] of cases) {
    it(`prints ${shown}`, () => {
      expect(describeValue(value)).toBe(shown);
    });
  }
});

describe('handle()', () => {
  const listener: RequestListener = (_req, res) => res.end();
  // [listener, options, code, message fragments]
  const bad: [unknown, unknown, string, string[]][] = [
    [
      'x',
      undefined,
      'LAMEDUCK_ERR_HANDLE_NOT_A_LISTENER',
      ['handle() takes a request listener function', 'got "x"'],
    ],
    [undefined, undefined, 'LAMEDUCK_ERR_HANDLE_NOT_A_LISTENER', ['got undefined']],
    [{}, undefined, 'LAMEDUCK_ERR_HANDLE_NOT_A_LISTENER', ['got {}']],
    [
      listener,
      { readinessPath: 'readyz' },
      OPTIONS,
      ['"readinessPath"', 'starting with "/"', 'got "readyz"'],
    ],
    [listener, { livenessPath: 42 }, OPTIONS, ['"livenessPath"', 'got 42']],
    [listener, { livenessPath: true }, OPTIONS, ['"livenessPath"', 'or false for no route', 'got true']],
    [listener, { readinessPath: '' }, OPTIONS, ['"readinessPath"', 'got ""']],
    [
      listener,
      { readinessPath: '/readyz?full=1' },
      OPTIONS,
      ['"readinessPath"', 'without a query string', 'got "/readyz?full=1"'],
    ],
    [
      listener,
      { readinessPath: '/health', livenessPath: '/health' },
      OPTIONS,
      ['"readinessPath" and "livenessPath" are both "/health"'],
    ],
    [
      listener,
      { readyPath: '/readyz' },
      OPTIONS,
      ['Unknown handle() option "readyPath"', 'the options are livenessPath, readinessPath.'],
    ],
    [listener, null, OPTIONS, ['handle() takes an object of options', 'got null']],
    [listener, '/readyz', OPTIONS, ['handle() takes an object of options', 'got "/readyz"']],
  ];
  for (const [fn, options, code, fragments] of bad) {
    it(`rejects handle(${describeValue(fn)}, ${describeValue(options)})`, () => {
      const lameduck = lifecycle();
      const err = thrown(() => lameduck.handle(fn as RequestListener, options as HandleOptions));
      expect(err.code).toBe(code);
      for (const fragment of fragments) expect(err.message).toContain(fragment);
    });
  }

  const good: (HandleOptions | undefined)[] = [
    undefined,
    {},
    { readinessPath: false, livenessPath: false },
    { readinessPath: undefined },
    { readinessPath: '/readyz', livenessPath: '/livez' },
  ];
  for (const options of good) {
    it(`accepts ${describeValue(options)}`, () => {
      expect(typeof lifecycle().handle(listener, options)).toBe('function');
    });
  }
});

describe('onShutdown()', () => {
  // [name, fn, options, message fragments]; all LAMEDUCK_ERR_HOOK_INVALID.
  const bad: [unknown, unknown, unknown, string[]][] = [
    ['', noop, undefined, ['onShutdown() takes a hook name (a non-empty string)', 'got ""']],
    [42, noop, undefined, ['hook name', 'got 42']],
    ['db', 'nope', undefined, ['Hook "db" must be a function', 'got "nope"']],
    ['db', undefined, undefined, ['Hook "db" must be a function', 'got undefined']],
    ['db', noop, 5000, ['Hook "db" options must be an object', 'got 5000']],
    [
      'db',
      noop,
      { timout: 10 },
      ['Unknown onShutdown() option "timout" for hook "db"', 'the options are phase, timeout.'],
    ],
    [
      'db',
      noop,
      { phase: 'later' },
      ['Hook "db" option "phase" must be "beforeDrain" or "afterDrain"', 'got "later"'],
    ],
    ['db', noop, { phase: null }, ['option "phase"', 'got null']],
    ['db', noop, { timeout: -5 }, ['Hook "db" option "timeout" must be a number of milliseconds', 'got -5']],
    ['db', noop, { timeout: '1s' }, ['option "timeout"', 'got "1s"']],
    ['db', noop, { timeout: null }, ['option "timeout"', 'got null']],
  ];
  for (const [name, fn, options, fragments] of bad) {
    it(`rejects onShutdown(${describeValue(name)}, ${describeValue(fn)}, ${describeValue(options)})`, () => {
      const lameduck = lifecycle();
      const err = thrown(() => lameduck.onShutdown(name as string, fn as () => void, options as never));
      expect(err.code).toBe(HOOK);
      for (const fragment of fragments) expect(err.message).toContain(fragment);
    });
  }

  it('names a duplicate hook', () => {
    const lameduck = lifecycle();
    lameduck.onShutdown('db', noop);
    const err = thrown(() => lameduck.onShutdown('db', noop));
    expect(err.code).toBe('LAMEDUCK_ERR_HOOK_DUPLICATE');
    expect(err.message).toContain('A hook named "db" is already registered');
  });
});

describe('a disposed lifecycle', () => {
  // Every set-up method throws at once; the per-request ones (gate, probes, signalFor) are not checked.
  const calls: [string, (lameduck: Lameduck) => unknown][] = [
    ['shutdown', (l) => l.shutdown()],
    ['attach', (l) => l.attach(http.createServer())],
    ['onShutdown', (l) => l.onShutdown('db', noop)],
    ['handle', (l) => l.handle(noop)],
  ];
  for (const [method, call] of calls) {
    it(`throws DISPOSED synchronously from ${method}()`, () => {
      const lameduck = lifecycle();
      lameduck.dispose();
      const err = thrown(() => call(lameduck));
      expect(err.code).toBe('LAMEDUCK_ERR_DISPOSED');
      expect(err.message).toBe(`${method}() was called on a disposed lameduck lifecycle.`);
      expect(lameduck.state).toBe('ready');
    });
  }
});

it('rejects listen() on a disposed lifecycle with DISPOSED, through attach()', async () => {
  const lameduck = lifecycle();
  lameduck.dispose();
  const server = http.createServer();
  await expect(lameduck.listen(server, 0)).rejects.toMatchObject({ code: 'LAMEDUCK_ERR_DISPOSED' });
  expect(server.listening).toBe(false);
});

describe('resolveAdapterOptions()', () => {
  const shared = () => lifecycle();
  // [options, ignored register options, message fragments]; all LAMEDUCK_ERR_OPTIONS_INVALID.
  const bad: [(() => unknown) | unknown, string[], string[]][] = [
    [
      { lameduck: {} },
      [],
      ['Option "lameduck" must be a lifecycle made by createLameduck(), got {} (it has no gate() method).'],
    ],
    [{ lameduck: null }, [], ['Option "lameduck"', 'got null']],
    [{ lameduck: 'app' }, [], ['Option "lameduck" must be a lifecycle made by createLameduck(), got "app".']],
    [
      () => ({ lameduck: { gate: noop, attach: noop } }),
      [],
      ['got { gate: a function, attach: a function } (it has no onShutdown() method).'],
    ],
    [
      () => ({ lameduck: shared(), timeout: 10 }),
      [],
      ['Option "lameduck" cannot be combined with core options (timeout)'],
    ],
    [
      { readinessPath: 'readyz' },
      [],
      ['Option "readinessPath" must be a path starting with "/"', 'got "readyz"'],
    ],
    [{ livenessPath: 42 }, [], ['Option "livenessPath"', 'got 42']],
    [{ readinessPath: '/ok', livenessPath: '/ok' }, [], ['are both "/ok"']],
    [{ signals: ['SIGTREM'] }, [], ['Option "signals" lists "SIGTREM"']],
    [
      { timeOut: 5 },
      [],
      ['Unknown option "timeOut"', 'lameduck', 'livenessPath', 'readinessPath', 'timeout'],
    ],
    [
      { prefx: '/api' },
      ['prefix', 'logLevel'],
      ['Unknown option "prefx"', 'lameduck', 'logLevel', 'prefix', 'readinessPath'],
    ],
    ['fast', [], ['takes an object of options or nothing', 'got "fast"']],
    [null, [], ['got null']],
  ];
  for (const [make, ignore, fragments] of bad) {
    it(`rejects ${typeof make === 'function' ? describeValue(make()) : describeValue(make)}`, () => {
      const options = typeof make === 'function' ? make() : make;
      const err = thrown(() => resolveAdapterOptions(options as never, {}, new Set(ignore)));
      expect(err.code).toBe(OPTIONS);
      for (const fragment of fragments) expect(err.message).toContain(fragment);
    });
  }

  it('lists every accepted option in the unknown-option message', () => {
    const err = thrown(() => resolveAdapterOptions({ x: 1 } as never, {}, new Set(['prefix'])));
    expect(err.message).toBe(
      'Unknown option "x"; the options are discover, drainDelay, exit, hookTimeout, idleGrace, lameduck, lateRequests, livenessPath, logger, prefix, readinessPath, retryAfter, signals, timeout.',
    );
  });

  it('accepts a lifecycle from the other build (ESM next to CommonJS) by its methods, and false paths', () => {
    const real = shared();
    const methods = [
      'gate',
      'attach',
      'onShutdown',
      'shutdown',
      'readiness',
      'liveness',
      'signalFor',
      'on',
      'off',
    ];
    const copy = Object.fromEntries(
      methods.map((m) => [
        m,
        (...args: unknown[]) =>
          (real as unknown as Record<string, (...a: unknown[]) => unknown>)[m]?.(...args),
      ]),
    );
    const resolved = resolveAdapterOptions({ lameduck: copy as unknown as Lameduck, readinessPath: false });
    expect(resolved).toEqual({ lameduck: copy, readinessPath: undefined, livenessPath: undefined });
  });
});
