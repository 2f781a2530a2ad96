import { ErrorCodes, LameduckError } from './errors.js';
import { checkMs } from './options.js';
import type { HookFn, HookOptions, HookPhase, HookReport } from './types.js';

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
    if (typeof name !== 'string' || name.length === 0) {
      throw new LameduckError(
        ErrorCodes.HOOK_INVALID,
        `A hook name must be a non-empty string, got ${String(name)}.`,
      );
    }
    if (typeof fn !== 'function') {
      throw new LameduckError(
        ErrorCodes.HOOK_INVALID,
        `Hook "${name}" must be a function, got ${typeof fn}.`,
      );
    }
    const phase = options?.phase ?? 'afterDrain';
    if (phase !== 'beforeDrain' && phase !== 'afterDrain') {
      throw new LameduckError(
        ErrorCodes.HOOK_INVALID,
        `Hook "${name}" has phase ${JSON.stringify(phase)}; the phases are "beforeDrain" and "afterDrain".`,
      );
    }
    let timeout: number;
    try {
      timeout = checkMs(`timeout`, options?.timeout ?? this.#defaultTimeout);
    } catch (err) {
      throw new LameduckError(
        ErrorCodes.HOOK_INVALID,
        `Hook "${name}" timeout must be a number of milliseconds from 0 to 2147483647, got ${String(options?.timeout)}.`,
        { cause: err },
      );
    }
    if (this.#hooks.some((h) => h.name === name)) {
      throw new LameduckError(
        ErrorCodes.HOOK_DUPLICATE,
        `A hook named "${name}" is already registered; hook names must be unique so the report can tell them apart.`,
      );
    }
    const hook: Hook = { name, fn: fn as HookFn, phase, timeout };
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i !== -1) this.#hooks.splice(i, 1);
    };
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
