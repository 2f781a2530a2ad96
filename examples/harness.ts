// Test support for the deployment examples (nginx, HAProxy, Kubernetes): instances of the example server
// as child processes, load balancer processes, and a load client that records every request that did
// not succeed. Processes, ports and requests come from @lameduck/testkit.

import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, request, spawnSource } from '@lameduck/testkit';

export { accepting, freePorts } from '@lameduck/testkit';

/** The server every example runs: examples/node-http/server.ts (GET /, /slow, POST /echo, /readyz). */
export const serverFile = fileURLToPath(new URL('./node-http/server.ts', import.meta.url));

/** An executable on PATH or in the sbin directories, where Debian installs nginx and haproxy. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

/** Replaces the one match of `pattern`; throws when it matches zero or several times (the file changed). */
export function replaceOnce(text: string, pattern: RegExp, replacement: string): string {
  const global = new RegExp(
    pattern.source,
    pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
  );
  const count = [...text.matchAll(global)].length;
  if (count !== 1) throw new Error(`expected one match of ${pattern}, found ${count}`);
  return text.replace(pattern, () => replacement);
}

/** Everything a test started, so that a failing test leaves nothing running. */
export class Processes {
  #instances: Child[] = [];
  #services: Service[] = [];

  /**
   * Starts the example server on a fixed port (a replacement binds the port its predecessor left) and
   * resolves once it listens.
   */
  async instance(port: number, env: Record<string, string> = {}): Promise<Instance> {
    const child = spawnSource(serverFile, { env: { HOST: '127.0.0.1', ...env, PORT: String(port) } });
    this.#instances.push(child);
    await child.line('listening on ');
    const pid = child.process.pid;
    if (pid === undefined) throw new Error('the instance has no pid');
    return { child, pid, port };
  }

  /** Runs a binary (nginx, haproxy) in its own process group, capturing its output. */
  service(file: string, args: string[]): Service {
    const service = spawnService(file, args);
    this.#services.push(service);
    return service;
  }

  /** SIGKILL for instances still running; services get SIGTERM first (nginx's master stops its workers). */
  async stopAll(): Promise<void> {
    for (const child of this.#instances.splice(0)) child.kill();
    await Promise.all(this.#services.splice(0).map((s) => s.stop()));
  }
}

export interface Instance {
  child: Child;
  pid: number;
  port: number;
}

/**
 * Resolves once the child's stderr matches `pattern` (lameduck's default logger writes there, and
 * synchronously: by the time a line is read, what it reports has happened). Rejects if it exits first.
 */
export async function stderrMatch(child: Child, pattern: RegExp): Promise<void> {
  await child.match(pattern, 'stderr');
}

export interface Service {
  process: ChildProcess;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output after character `from`; rejects on exit. */
  waitFor(pattern: RegExp, from?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL to the process group if it has not exited within 5 s. */
  stop(): Promise<void>;
}

function spawnService(file: string, args: string[]): Service {
  const child = new Child(file, args, { detached: true });
  return {
    process: child.process,
    output: () => child.output,
    waitFor: (pattern, from = 0) => child.match(pattern, 'both', from),
    exited: child.exited,
    async stop() {
      if (child.process.exitCode !== null || child.process.signalCode !== null || child.pid === 0) return;
      child.signal('SIGTERM');
      const bound = new Promise<'bound'>((resolve) => setTimeout(resolve, 5_000, 'bound').unref());
      if ((await Promise.race([child.exited, bound])) === 'bound') {
        child.kill();
        await child.exited;
      }
    },
  };
}

/** A response as the load client saw it, or the error that replaced it. */
interface Outcome {
  status?: number;
  instance?: string;
  body?: string;
  error?: string;
}

/** Sends one request on the agent; never rejects. A request that takes over `timeoutMs` is a failure. */
async function send(
  agent: http.Agent,
  port: number,
  method: 'GET' | 'POST',
  urlPath: string,
  body: string | undefined,
  timeoutMs: number,
): Promise<Outcome> {
  const r = await request(agent, port, urlPath, { method, body, timeoutMs });
  if (r.error !== undefined) return { error: r.error };
  const instance = r.headers?.['x-instance'];
  return {
    status: r.status,
    instance: typeof instance === 'string' ? instance : undefined,
    body: r.body,
    error: r.truncated ? 'truncated' : undefined,
  };
}

export interface LoadOptions {
  port: number;
  /** Concurrent clients (each sends its next request when the last one is answered). */
  concurrency?: number;
  /**
   * How many of them open a new connection for every request instead of keeping one alive, as many
   * real clients do: new connections keep arriving through a routing change. Default: none.
   */
  connectionPerRequest?: number;
  /** Bound on the number of requests. */
  maxRequests?: number;
  /** Bound on the duration. */
  maxMs?: number;
  /** A request not answered within this long counts as failed. */
  requestTimeoutMs?: number;
}

export interface Failure {
  atMs: number;
  request: string;
  status?: number;
  error?: string;
  body?: string;
}

export interface LoadReport {
  requests: number;
  ok: number;
  failures: Failure[];
  /** Requests answered per process (the `X-Instance` header, a pid). */
  byInstance: Record<string, number>;
  ms: number;
}

/**
 * Continuous client load: clients (keep-alive unless told otherwise) cycling through GET /, a small POST /echo, GET /slow
 * (100 ms, so requests are in flight when a listener closes) and an 8 KiB POST /echo. A request
 * succeeds when it gets 200 with exactly the expected body; anything else is recorded as a failure.
 */
export class Load {
  readonly #opts: Required<LoadOptions>;
  readonly #agent: http.Agent;
  readonly #oneShot = new http.Agent({ keepAlive: false });
  readonly #started = performance.now();
  #stopped = false;
  #requests = 0;
  #ok = 0;
  #failures: Failure[] = [];
  readonly #byInstance = new Map<string, number>();
  /** Per instance, the times (performance.now()) of its responses. */
  readonly #times = new Map<string, number[]>();
  #waiters: { check: () => boolean; resolve: () => void; reject: (err: Error) => void }[] = [];
  readonly #loops: Promise<void>;

  constructor(options: LoadOptions) {
    this.#opts = {
      concurrency: 8,
      connectionPerRequest: 0,
      maxRequests: 200_000,
      maxMs: 80_000,
      requestTimeoutMs: 30_000,
      ...options,
    };
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: this.#opts.concurrency });
    this.#loops = Promise.all(Array.from({ length: this.#opts.concurrency }, (_, i) => this.#loop(i))).then(
      () => {
        this.#stopped = true;
        this.#wake();
      },
    );
  }

  /** Milliseconds since the load started (the time base of `Failure.atMs`). */
  now(): number {
    return performance.now() - this.#started;
  }

  /** Resolves once the process `pid` has answered a request; rejects if the load ends first. */
  seen(pid: number): Promise<void> {
    return this.#until(() => this.#byInstance.has(String(pid)), `process ${pid} answered a request`);
  }

  /** Resolves once `count` more requests have been answered. */
  more(count: number): Promise<void> {
    const target = this.#requests + count;
    return this.#until(() => this.#requests >= target, `${count} more requests were answered`);
  }

  /** Responses from process `pid` received at or after `since` (a `performance.now()` value). */
  countSince(pid: number, since: number): number {
    return (this.#times.get(String(pid)) ?? []).filter((t) => t >= since).length;
  }

  async stop(): Promise<LoadReport> {
    this.#stopped = true;
    await this.#loops;
    this.#agent.destroy();
    this.#oneShot.destroy();
    return {
      requests: this.#requests,
      ok: this.#ok,
      failures: this.#failures,
      byInstance: Object.fromEntries(this.#byInstance),
      ms: Math.round(this.now()),
    };
  }

  #until(check: () => boolean, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    if (this.#stopped) return Promise.reject(new Error(`the load ended before ${what}`));
    return new Promise((resolve, reject) => {
      this.#waiters.push({
        check,
        resolve,
        reject: (err) => reject(new Error(`${err.message} before ${what}`)),
      });
    });
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (w.check()) {
        w.resolve();
        return false;
      }
      if (this.#stopped) {
        w.reject(new Error(`the load ended (${this.#requests} requests, ${Math.round(this.now())} ms)`));
        return false;
      }
      return true;
    });
  }

  async #loop(client: number): Promise<void> {
    const { port, maxRequests, maxMs, requestTimeoutMs, connectionPerRequest } = this.#opts;
    const agent = client < connectionPerRequest ? this.#oneShot : this.#agent;
    const big = 'x'.repeat(8 * 1024);
    for (let i = 0; !this.#stopped && this.#requests < maxRequests && this.now() < maxMs; i++) {
      let method: 'GET' | 'POST' = 'GET';
      let urlPath = '/';
      let body: string | undefined;
      let expected = 'hello\n';
      switch (i % 4) {
        case 1:
          method = 'POST';
          urlPath = '/echo';
          body = `client ${client} request ${i}`;
          expected = body;
          break;
        case 2:
          urlPath = '/slow?ms=100';
          expected = 'slept 100 ms\n';
          break;
        case 3:
          method = 'POST';
          urlPath = '/echo';
          body = `${client}:${i}:${big}`;
          expected = body;
          break;
      }
      const outcome = await send(agent, port, method, urlPath, body, requestTimeoutMs);
      this.#requests++;
      const receivedAt = performance.now();
      if (outcome.error === undefined && outcome.status === 200 && outcome.body === expected) {
        this.#ok++;
        if (outcome.instance !== undefined) {
          this.#byInstance.set(outcome.instance, (this.#byInstance.get(outcome.instance) ?? 0) + 1);
          const times = this.#times.get(outcome.instance) ?? [];
          if (times.length === 0) this.#times.set(outcome.instance, times);
          times.push(receivedAt);
        }
      } else {
        this.#failures.push({
          atMs: Math.round(receivedAt - this.#started),
          request: `${method} ${urlPath}`,
          status: outcome.status,
          error: outcome.error,
          body: outcome.body?.slice(0, 200),
        });
      }
      this.#wake();
    }
  }
}

/** One GET on a fresh connection (a probe: kubelet and load balancers do not reuse connections). */
export function probe(port: number, urlPath: string, timeoutMs: number): Promise<Outcome> {
  const agent = new http.Agent({ keepAlive: false });
  return send(agent, port, 'GET', urlPath, undefined, timeoutMs).finally(() => agent.destroy());
}

/** The skip rule of the load balancer suites: skip only when the binary is missing and CI is not set. */
export function binarySuite(
  name: string,
  aptPackage: string,
): { file: string | undefined; skip: boolean; title: string; missing: string } {
  const file = findBinary(name);
  const missing = `${name} was not found on PATH or in /usr/sbin; install Debian's ${aptPackage} package (apt-get install ${aptPackage})`;
  const skip = file === undefined && !process.env.CI;
  return { file, skip, title: skip ? `${name} (skipped: ${missing})` : name, missing };
}

export interface RestartStep {
  oldPid: number;
  newPid: number;
  port: number;
  /** What the old instance's readiness path answered right after SIGTERM. */
  readinessAfterSignal: number | string | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  /** From SIGTERM to the old process's exit. */
  exitMs: number;
  /** From SIGTERM to the first response from the new instance through the load balancer. */
  replacedMs: number;
}

/**
 * A rolling restart, one instance after the other, the way a deploy does it: SIGTERM to the old
 * process (readiness fails at once, the drain delay and the drain follow), wait for it to exit, start
 * a new process on the same port, and move on only once the load balancer sends it traffic (the load
 * saw a response from it), so that one instance is always in service.
 */
export async function rollingRestart(
  procs: Processes,
  instances: Instance[],
  load: Load,
  env: Record<string, string>,
  hooks: {
    /** Runs right after SIGTERM, beside the drain (a load balancer's health check reporting it down). */
    afterSignal?: (old: Instance) => Promise<void>;
    /** Runs once the new process listens (a load balancer's health check reporting it up). */
    afterStart?: (fresh: Instance) => Promise<void>;
  } = {},
): Promise<{ instances: Instance[]; steps: RestartStep[] }> {
  const steps: RestartStep[] = [];
  const next: Instance[] = [];
  for (const old of instances) {
    const signalled = performance.now();
    const exitedAt = old.child.exited.then(() => performance.now());
    old.child.process.kill('SIGTERM');
    // Probed once the process has logged the start of its shutdown. Probing right after kill() would
    // race the signal: a process-directed signal may be taken by another thread of the process, and
    // the event loop can answer a request that arrives meanwhile before its SIGTERM listener runs.
    await stderrMatch(old.child, /shutdown started/);
    const readiness = await probe(old.port, '/readyz', 10_000);
    await hooks.afterSignal?.(old);
    const exit = await old.child.exited;
    const exitMs = (await exitedAt) - signalled;
    const fresh = await procs.instance(old.port, env);
    await hooks.afterStart?.(fresh);
    await load.seen(fresh.pid);
    steps.push({
      oldPid: old.pid,
      newPid: fresh.pid,
      port: old.port,
      readinessAfterSignal: readiness.status ?? readiness.error,
      exit,
      exitMs: Math.round(exitMs),
      replacedMs: Math.round(performance.now() - signalled),
    });
    next.push(fresh);
  }
  return { instances: next, steps };
}
