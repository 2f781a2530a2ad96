import http from 'node:http';
import type { ShutdownReport } from '@lameduck/core';
import { type AgentResult, RawConnection, request } from '@lameduck/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, fixture, spawnFixture } from './helpers.js';

const children: Child[] = [];
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
  for (const c of children.splice(0)) c.kill();
});

async function start(env: Record<string, string> = {}) {
  const child = spawnFixture(fixture('server.ts'), env);
  children.push(child);
  const port = Number(await child.line('listening '));
  return { child, port };
}

function agent(maxSockets = 50): http.Agent {
  const a = new http.Agent({ keepAlive: true, maxSockets });
  cleanup.push(() => a.destroy());
  return a;
}

async function reportOf(child: Child): Promise<ShutdownReport> {
  return JSON.parse(await child.line('report ')) as ShutdownReport;
}

describe('signals and exit codes (child processes)', () => {
  it('finishes 20 slow requests in flight at SIGTERM with Connection: close, then exits 0', async () => {
    const { child, port } = await start();
    const a = agent();
    const responses = Array.from({ length: 20 }, () => request(a, port, '/slow'));
    await child.line('arrived 20');
    child.process.kill('SIGTERM');
    const results = await Promise.all(responses);
    for (const r of results) {
      expect(r).toMatchObject({ status: 200, body: 'slow done', truncated: false });
      expect(r.headers?.connection).toBe('close');
    }
    const report = await reportOf(child);
    expect(report).toMatchObject({ reason: 'SIGTERM', signal: 'SIGTERM', exitCode: 0 });
    expect(report.requests).toMatchObject({ inFlightAtStart: 20, completed: 20 });
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 0 after a clean SIGINT drain', async () => {
    const { child } = await start();
    child.process.kill('SIGINT');
    expect((await reportOf(child)).reason).toBe('SIGINT');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 1 when the deadline was reached', async () => {
    const { child, port } = await start({ LD_OPTIONS: JSON.stringify({ timeout: 200 }) });
    const hung = request(agent(), port, '/hang');
    await child.line('arrived 1');
    child.process.kill('SIGTERM');
    const report = await reportOf(child);
    expect(report.deadlineReached).toBe(true);
    expect(report.requests.aborted).toBe(1);
    expect((await hung).error).toBe('ECONNRESET');
    expect(await child.exited).toEqual({ code: 1, signal: null });
  });

  it('exits 1 when a hook failed', async () => {
    const { child } = await start({ LD_HOOK: 'fail' });
    child.process.kill('SIGTERM');
    const report = await reportOf(child);
    expect(report.hooks).toEqual([
      expect.objectContaining({ name: 'fails', outcome: 'error', error: 'cleanup failed' }),
    ]);
    expect(await child.exited).toEqual({ code: 1, signal: null });
  });

  it('outlives a hook whose promise never settles: it times out, the next hook runs, exit 1', async () => {
    // Nothing but lameduck's (unref'd) timers is left in the process once the server closed: the
    // shutdown itself must keep the process alive until its report.
    const { child } = await start({ LD_HOOK: 'stall' });
    child.process.kill('SIGTERM');
    const report = await reportOf(child);
    expect(report.hooks.map((h) => [h.name, h.outcome])).toEqual([
      ['stalls', 'timeout'],
      ['after', 'ok'],
    ]);
    expect(await child.exited).toEqual({ code: 1, signal: null });
  });

  it('exits at once with 128 + signal number on a second signal', async () => {
    const { child, port } = await start({ LD_OPTIONS: JSON.stringify({ timeout: 60_000 }) });
    void request(agent(), port, '/hang');
    await child.line('arrived 1');
    child.process.kill('SIGTERM');
    await child.line('shutdown SIGTERM');
    child.process.kill('SIGINT');
    expect(await child.exited).toEqual({ code: 130, signal: null });
    expect(child.stdout()).not.toMatch(/^report /m);
  });

  it('does not exit with exit: false, and leaves no timer holding the process', async () => {
    const { child } = await start({
      LD_OPTIONS: JSON.stringify({ exit: false, timeout: 600_000, hookTimeout: 600_000 }),
    });
    child.process.kill('SIGTERM');
    expect((await reportOf(child)).exitCode).toBe(0);
    // Nothing of lameduck's keeps the event loop alive: node ends on its own, long before any timer.
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('drains a server it found without attach(), including a connection that never sent a request', async () => {
    const { child, port } = await start({
      LD_MODE: 'discover',
      LD_OPTIONS: JSON.stringify({ idleGrace: 0 }),
    });
    const silent = await RawConnection.open(port);
    cleanup.push(() => silent.destroy());
    const slow = request(agent(), port, '/slow');
    await child.line('arrived 1');
    child.process.kill('SIGTERM');
    const result = await slow;
    expect(result).toMatchObject({ status: 200, body: 'slow done' });
    expect(result.headers?.connection).toBe('close');
    expect(await silent.outcome()).toBe('fin');
    const report = await reportOf(child);
    expect(report.servers).toBe(1);
    expect(report.sockets.openAtStart).toBe(2);
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('gives 50 keep-alive clients under load at SIGTERM zero resets and zero truncated bodies', async () => {
    const { child, port } = await start();
    const a = agent(50);
    const outcomes = { ok: 0, rejected: 0, refused: 0, failed: [] as AgentResult[] };
    let total = 0;
    let signalled = false;
    const loop = async () => {
      // Bounded: each client stops at its first refused connection, or after 400 requests.
      for (let i = 0; i < 400; i++) {
        const r = await request(a, port, '/');
        total++;
        if (!signalled && total >= 1_000) {
          signalled = true;
          child.process.kill('SIGTERM');
        }
        if (r.error === 'ECONNREFUSED') {
          outcomes.refused++;
          return;
        }
        if (r.status === 200 && !r.truncated && r.body?.length === 2048) outcomes.ok++;
        else if (r.status === 503 && r.headers?.connection === 'close' && !r.truncated) outcomes.rejected++;
        else outcomes.failed.push(r);
      }
    };
    await Promise.all(Array.from({ length: 50 }, loop));
    expect(signalled).toBe(true);
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.refused).toBe(50);
    expect(outcomes.ok).toBeGreaterThanOrEqual(1_000);
    const report = await reportOf(child);
    expect(report.deadlineReached).toBe(false);
    expect(report.sockets.forced).toBe(0);
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
