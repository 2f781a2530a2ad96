// What the load balancer examples' tests (nginx, HAProxy) share: each starts two instances behind the
// shipped configuration, rolls them under load, and holds the roll to the same standard. What differs
// (how the balancer starts, what its log says) stays in each test.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'vitest';
import {
  binarySuite,
  freePorts,
  type Instance,
  Load,
  type LoadReport,
  Processes,
  type RestartStep,
} from './harness.js';

/** The balancer's suite: skipped where the binary is missing (outside CI), and the binary's path. */
export function balancerSuite(
  name: string,
  aptPackage: string,
): { skip: boolean; title: string; file: () => string } {
  const suite = binarySuite(name, aptPackage);
  return {
    skip: suite.skip,
    title: suite.title,
    file: () => {
      if (suite.file === undefined)
        throw new Error(`${suite.missing}; CI is set, so this fails instead of skipping`);
      return suite.file;
    },
  };
}

/** The ports of one test: the balancer listens on `listen` and sends to instances on `a` and `b`. */
export interface Ports {
  listen: number;
  a: number;
  b: number;
}

export interface Balanced extends Ports {
  procs: Processes;
  /** A temporary directory of the test's own, removed when it finishes. */
  dir: string;
  /** The configuration file written into `dir`. */
  config: string;
  /** The environment of every instance, replacements included. */
  env: Record<string, string>;
  /** The two instances, listening on `a` and `b`. */
  instances: Instance[];
}

/**
 * Per test (the tests run side by side): a temporary directory, three free ports, the shipped
 * configuration file `template` rendered for them into the directory, and two instances with this drain
 * delay. Everything is stopped and removed when the test finishes.
 */
export async function balance(
  { onTestFinished }: TestContext,
  template: URL,
  render: (text: string, ports: Ports, dir: string) => string,
  drainDelay: number,
): Promise<Balanced> {
  const procs = new Processes();
  // Named for the example's directory: lameduck-nginx-…, lameduck-haproxy-….
  const name = path.basename(path.dirname(fileURLToPath(template)));
  const dir = mkdtempSync(path.join(tmpdir(), `lameduck-${name}-`));
  onTestFinished(async () => {
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const [listen, a, b] = (await freePorts(3)) as [number, number, number];
  const config = path.join(dir, path.basename(fileURLToPath(template)));
  writeFileSync(config, render(readFileSync(template, 'utf8'), { listen, a, b }, dir));
  const env = { DRAIN_DELAY: String(drainDelay), SHUTDOWN_TIMEOUT: '20000' };
  const instances = await Promise.all([procs.instance(a, env), procs.instance(b, env)]);
  return { procs, dir, config, listen, a, b, env, instances };
}

/** Load through the balancer, stopped when the test finishes; resolves once both instances answered. */
export async function loadThrough({ onTestFinished }: TestContext, balanced: Balanced): Promise<Load> {
  const load = new Load({ port: balanced.listen });
  onTestFinished(() => load.stop().then(() => {}));
  await Promise.all(balanced.instances.map((i) => load.seen(i.pid)));
  return load;
}

/**
 * The standard of every roll: no request failed; each old instance failed readiness at SIGTERM, waited
 * out its drain delay and exited 0; every instance, old and new, served.
 */
export function expectCleanRoll(
  { expect }: TestContext,
  roll: { report: LoadReport; steps: RestartStep[]; served: Instance[]; drainDelay: number },
  balancerOutput: string,
): void {
  const { report, steps, served, drainDelay } = roll;
  const context = `failures: ${JSON.stringify(report.failures.slice(0, 20))}\nbalancer:\n${balancerOutput.slice(-4000)}`;
  expect(report.failures, context).toEqual([]);
  expect(report.ok).toBe(report.requests);
  for (const step of steps) {
    // Without a drain delay the listener closes at once: the probe is refused, reset in the accept
    // queue, or answered 503 on a connection accepted just before. Each means "not ready".
    if (drainDelay > 0) expect(step.readinessAfterSignal).toBe(503);
    else expect([503, 'ECONNREFUSED', 'ECONNRESET']).toContain(step.readinessAfterSignal);
    expect(step.exit).toEqual({ code: 0, signal: null });
    expect(step.exitMs).toBeGreaterThanOrEqual(drainDelay);
  }
  for (const i of served) expect(report.byInstance[String(i.pid)]).toBeGreaterThan(0);
}

/** The restarts and the test's duration, for the summary line. */
export function restartsSummary(steps: RestartStep[], started: number): string {
  return (
    `restarts: ${steps.map((s) => `exit ${s.exitMs} ms, replaced ${s.replacedMs} ms`).join('; ')}; ` +
    `test ${Math.round(performance.now() - started)} ms`
  );
}
