// The Kubernetes termination protocol, simulated (./cluster.ts), with the numbers of ./deployment.yaml:
// a pod is deleted while client load flows through its Service, and the endpoint removal reaches the
// routing table only later. No request may be lost, readiness must fail within one probe period, and
// the pod must exit on its own, before the grace period. README.md explains the arithmetic checked first.
import { describe, expect, it, type TestContext } from 'vitest';
import { manifest, manifestMs as ms, deleteUnderLoad as runScenario } from './scenario.js';

const drainDelay = ms('DRAIN_DELAY');
const timeout = ms('SHUTDOWN_TIMEOUT');
const hookTimeout = ms('HOOK_TIMEOUT');

/** The adaptive drain delay's `quiet` (DRAIN_QUIET), with DRAIN_DELAY as its `max`. */
const quietMs = 1000;
/** Endpoint removal delays the behaviour tests cover: fast propagation, and a slow one. */
const removalDelays = [500, 8000];
/** lameduck's bound, after the deadline, for destroyed connections to report closed (FORCE_SETTLE_MS). */
const settleMs = 1000;
/** After-drain hooks the example server registers (flush-metrics). */
const afterDrainHooks = 1;
/** Time for the process to exit after its report, and for the kubelet to notice. */
const exitMarginMs = 2000;

describe('the example manifest', () => {
  it('has numbers that satisfy the shutdown arithmetic of README.md', () => {
    const { graceMs, preStopMs, readiness } = manifest;
    // 1. lameduck closes its listeners at drainDelay, which must come before the deadline.
    expect(drainDelay).toBeLessThan(timeout);
    // 2. Anything that routes by readiness sees the pod unready before its listeners close.
    expect(readiness.periodMs * readiness.failureThreshold + readiness.timeoutMs).toBeLessThanOrEqual(
      drainDelay,
    );
    // 3. The listeners stay open until the slowest endpoint removal simulated below has landed.
    expect(drainDelay).toBeGreaterThan(Math.max(...removalDelays));
    // 4. The worst-case shutdown ends before SIGKILL: preStop, the drain up to its deadline, the settle
    //    bound, every after-drain hook at its timeout, and a margin to exit.
    const worstMs = preStopMs + timeout + settleMs + afterDrainHooks * hookTimeout + exitMarginMs;
    expect(worstMs).toBeLessThanOrEqual(graceMs);
  });
});

/** The scenario of ./scenario.ts, stopped when the test finishes. */
function deleteUnderLoad(context: TestContext, removalDelay: number, env: Record<string, string> = {}) {
  return runScenario(removalDelay, env, (stop) => context.onTestFinished(stop));
}

// Concurrent: each scenario mostly waits (the drain delay is 10 s), so the three share the wall time.
describe.concurrent('a pod deleted under load, as the kubelet and the endpoints controller do it', () => {
  for (const removalDelay of removalDelays) {
    it(`loses no request when the endpoint removal lands ${removalDelay} ms after the deletion`, async (context) => {
      const { expect } = context;
      const started = performance.now();
      const { a, termination, shutdownAt, servedByAAfterSigterm, report } = await deleteUnderLoad(
        context,
        removalDelay,
      );
      const { periodMs, failureThreshold } = manifest.readiness;

      // No request lost, although the routing table kept sending new connections to the pod after
      // SIGTERM (until the removal) and the pod served them.
      expect(report.failures, JSON.stringify(report.failures.slice(0, 20))).toEqual([]);
      expect(report.ok).toBe(report.requests);
      expect(servedByAAfterSigterm).toBeGreaterThan(0);
      expect(termination.exitedAt).toBeGreaterThan(termination.removedAt);

      // Readiness: every probe that started once the process had logged the start of its shutdown
      // failed, and the first of them was scheduled within one period of that moment. (The log line
      // is the reference, not kill(): the signal reaches the event loop asynchronously.)
      const after = a.probes.filter((p) => p.startedAt > shutdownAt);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((p) => p.ok)).toEqual([]);
      const first = after[0]!;
      expect(first.scheduledAt - shutdownAt).toBeLessThanOrEqual(periodMs);
      // The kubelet concluded "not ready" by then (a probe sent just before the log line may already
      // have met the flipped state, so possibly one tick earlier).
      expect(a.notReadyAt).toBeDefined();
      expect(a.notReadyAt?.tick).toBeLessThanOrEqual(first.tick + failureThreshold - 1);

      // The process exits on its own, cleanly, after the drain delay and before the grace period.
      expect(termination.exit).toEqual({ code: 0, signal: null });
      expect(termination.killed).toBe(false);
      expect(termination.exitedAt - termination.sigtermAt).toBeGreaterThanOrEqual(drainDelay);
      expect(termination.exitedAt - termination.deletedAt).toBeLessThan(manifest.graceMs);

      console.info(
        `kubernetes, endpoint removal after ${removalDelay} ms: ${report.requests} requests, 0 lost, ` +
          `${servedByAAfterSigterm} served by the terminating pod after SIGTERM; first failing readiness ` +
          `probe ${Math.round(first.startedAt - termination.sigtermAt)} ms after SIGTERM; exit ` +
          `${Math.round(termination.exitedAt - termination.sigtermAt)} ms after SIGTERM (grace ` +
          `${manifest.graceMs} ms); test ${Math.round(performance.now() - started)} ms`,
      );
    });
  }

  for (const removalDelay of removalDelays) {
    it(`with the adaptive drain delay ({ max: ${drainDelay}, quiet: ${quietMs} }), loses no request when the removal lands after ${removalDelay} ms, and exits once the traffic has moved`, async (context) => {
      const { expect } = context;
      const { a, termination, servedByAAfterSigterm, report } = await deleteUnderLoad(context, removalDelay, {
        DRAIN_QUIET: String(quietMs),
      });
      expect(report.failures, JSON.stringify(report.failures.slice(0, 20))).toEqual([]);
      expect(report.ok).toBe(report.requests);
      expect(servedByAAfterSigterm).toBeGreaterThan(0);
      expect(termination.exit).toEqual({ code: 0, signal: null });
      // The pod kept serving until the routing table had dropped it, and then stopped waiting: with the
      // removal well before `max`, the quiet window ended the delay, not `max` (the pod's log says which;
      // near `max`, either may, depending on the machine's pace).
      expect(termination.exitedAt).toBeGreaterThan(termination.removedAt);
      if (removalDelay + 2 * quietMs < drainDelay) {
        expect(a.instance.child.stderr()).toMatch(/drain delay over: no request arrived for `quiet` ms/);
      }
      console.info(
        `kubernetes, adaptive drain delay, endpoint removal after ${removalDelay} ms: ${report.requests} ` +
          `requests, 0 lost; exit ${Math.round(termination.exitedAt - termination.sigtermAt)} ms after SIGTERM`,
      );
    });
  }

  it('loses requests without a drain delay (the control: the simulation does route to a terminating pod)', async (context) => {
    const { expect } = context;
    const { report, termination } = await deleteUnderLoad(context, 2000, { DRAIN_DELAY: '0' });
    expect(termination.exit).toEqual({ code: 0, signal: null });
    // The listener closed at SIGTERM while the routing table still sent new connections to the pod:
    // they were refused (a reset through the proxy), or met the gate's 503 if accepted just before.
    expect(report.failures.length).toBeGreaterThan(0);
    console.info(
      `kubernetes control, drainDelay 0, endpoint removal after 2000 ms: ${report.failures.length} of ` +
        `${report.requests} requests lost (${[...new Set(report.failures.map((f) => f.error ?? f.status))].join(', ')})`,
    );
  });
});
