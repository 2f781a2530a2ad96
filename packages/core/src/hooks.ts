import { describeValue } from './describe-value.js';
import { ErrorCodes, LameduckError } from './errors.js';
import { checkKnownKeys, invalid, isMs, isOptionsObject } from './options.js';
import type { HookFn, HookOptions, HookPhase, HookReport } from './types.js';

const hookOptionNames: readonly string[] = ['timeout', 'phase'];

interface Hook {
  name: string;
  fn: HookFn;
  phase: HookPhase;
  timeout: number;
}

/** Hooks in registration order, run one after another, each bounded by its own timeout. */
export class HookRegistry {
  readonly #hooks: Hook[] = [];
  readonly #defaultTimeout: number;

  constructor(defaultTimeout: number) {
    this.#defaultTimeout = defaultTimeout;
  }

  add(name: unknown, fn: unknown, options: HookOptions | undefined): () => void {
    const { phase, timeout } = this.#check(name, fn, options);
    if (this.#hooks.some((h) => h.name === name)) {
      throw new LameduckError(
        ErrorCodes.HOOK_DUPLICATE,
        `A hook named ${JSON.stringify(name)} is already registered; hook names must be unique so the report can tell them apart.`,
      );
    }
    const hook: Hook = { name: name as string, fn: fn as HookFn, phase, timeout };
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i !== -1) this.#hooks.splice(i, 1);
    };
  }

  /** Every argument of `onShutdown()`, checked at registration rather than found wrong mid-shutdown. */
  #check(name: unknown, fn: unknown, options: unknown): { phase: HookPhase; timeout: number } {
    if (typeof name !== 'string' || name.length === 0) {
      throw invalid(
        `onShutdown() takes a hook name (a non-empty string) first, got ${describeValue(name)}.`,
        ErrorCodes.HOOK_INVALID,
      );
    }
    const hook = `Hook ${JSON.stringify(name)}`;
    if (typeof fn !== 'function') {
      throw invalid(
        `${hook} must be a function (the second argument of onShutdown()), got ${describeValue(fn)}.`,
        ErrorCodes.HOOK_INVALID,
      );
    }
    if (options === undefined) return { phase: 'afterDrain', timeout: this.#defaultTimeout };
    if (!isOptionsObject(options)) {
      throw invalid(
        `${hook} options must be an object (timeout, phase) or nothing, got ${describeValue(options)}.`,
        ErrorCodes.HOOK_INVALID,
      );
    }
    checkKnownKeys(
      options,
      hookOptionNames,
      'onShutdown() option',
      ErrorCodes.HOOK_INVALID,
      ` for hook ${JSON.stringify(name)}`,
    );
    const phase = options.phase === undefined ? 'afterDrain' : options.phase;
    if (phase !== 'beforeDrain' && phase !== 'afterDrain') {
      throw invalid(
        `${hook} option "phase" must be "beforeDrain" or "afterDrain", got ${describeValue(phase)}.`,
        ErrorCodes.HOOK_INVALID,
      );
    }
    const timeout = options.timeout === undefined ? this.#defaultTimeout : options.timeout;
    if (!isMs(timeout)) {
      throw invalid(
        `${hook} option "timeout" must be a number of milliseconds from 0 to 2147483647, got ${describeValue(timeout)}.`,
        ErrorCodes.HOOK_INVALID,
      );
    }
    return { phase, timeout };
  }

  /** Runs the hooks of one phase in order; never rejects. */
  async run(phase: HookPhase, reason: string, onDone: (report: HookReport) => void): Promise<HookReport[]> {
    const reports: HookReport[] = [];
    for (const hook of this.#hooks.filter((h) => h.phase === phase)) {
      const report = await runOne(hook, reason);
      reports.push(report);
      onDone(report);
    }
    return reports;
  }
}

async function runOne(hook: Hook, reason: string): Promise<HookReport> {
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(
        new LameduckError(
          ErrorCodes.HOOK_TIMEOUT,
          `Hook "${hook.name}" did not finish within ${hook.timeout} ms.`,
        ),
      );
      resolve('timeout');
    }, hook.timeout);
    timer.unref();
  });
  const ran = (async () => {
    await hook.fn({ signal: controller.signal, reason });
    return 'ok' as const;
  })();
  try {
    const outcome = await Promise.race([ran, timedOut]);
    return { name: hook.name, phase: hook.phase, outcome, durationMs: since(started) };
  } catch (err) {
    return {
      name: hook.name,
      phase: hook.phase,
      outcome: 'error',
      durationMs: since(started),
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearTimeout(timer);
    // A hook that lost the race may still reject later; that must not become an unhandled rejection.
    ran.catch(() => {});
  }
}

export function since(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}
