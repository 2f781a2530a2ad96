// The parts of Kubernetes that a pod's shutdown meets, simulated for kubernetes.test.ts (there is no
// Kubernetes server here): the reader of deployment.yaml's numbers, a kubelet (readiness probes on
// their period, preStop, SIGTERM, SIGKILL at the grace period), and the endpoints controller with
// kube-proxy (a routing table that forgets a deleted pod only after a delay, and a TCP proxy that
// picks a pod per new connection from that table, as kube-proxy's iptables rules do).
// https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { type Instance, type Processes, probe } from '../harness.js';

/** The numbers of the Deployment's pod template that the shutdown depends on. */
export interface PodNumbers {
  /** terminationGracePeriodSeconds, in ms. */
  graceMs: number;
  /** A `preStop` sleep, in ms (0 without a hook). */
  preStopMs: number;
  readiness: {
    path: string;
    periodMs: number;
    timeoutMs: number;
    failureThreshold: number;
    successThreshold: number;
  };
  /** The container's environment: DRAIN_DELAY, SHUTDOWN_TIMEOUT, HOOK_TIMEOUT (ms) and the rest. */
  env: Record<string, string>;
}

/**
 * Reads the Deployment in `file`. Not a YAML parser: it reads the block-style subset the manifest
 * uses (indented keys, `- name:` / `value:` env pairs) and throws when a number it needs is missing
 * or not an integer, so a manifest edit it cannot follow fails the test instead of being ignored.
 */
export function readManifest(file: string): PodNumbers {
  const deployment = readFileSync(file, 'utf8')
    .split(/^---$/m)
    .find((doc) => /^kind: Deployment$/m.test(doc));
  if (deployment === undefined) throw new Error(`${file} has no Deployment`);
  const readiness = block(deployment, 'readinessProbe');
  const env: Record<string, string> = {};
  let name: string | undefined;
  for (const line of block(deployment, 'env').split('\n')) {
    const n = /^\s*- name:\s*(\S+)\s*$/.exec(line);
    if (n) name = n[1];
    const v = /^\s*value:\s*"([^"]*)"\s*$/.exec(line);
    if (v && name !== undefined) env[name] = v[1] ?? '';
  }
  return {
    graceMs: integer(deployment, 'terminationGracePeriodSeconds') * 1000,
    preStopMs: preStop(deployment),
    readiness: {
      path: scalar(readiness, 'path') ?? '/',
      periodMs: integer(readiness, 'periodSeconds') * 1000,
      timeoutMs: integer(readiness, 'timeoutSeconds') * 1000,
      failureThreshold: integer(readiness, 'failureThreshold'),
      successThreshold: integer(readiness, 'successThreshold'),
    },
    env,
  };
}

/** The lines indented under `key:` (comments left out). */
function block(text: string, key: string, optional = false): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\s*(- )?${key}:\\s*$`).test(line));
  if (start === -1) {
    if (optional) return '';
    throw new Error(`the Deployment has no "${key}:" block`);
  }
  const indent = lines[start]?.search(/\S/) ?? 0;
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    if (line.search(/\S/) <= indent) break;
    body.push(line);
  }
  return body.join('\n');
}

function scalar(text: string, key: string): string | undefined {
  return new RegExp(`^\\s*(?:- )?${key}:\\s*"?([^"#\\s]+)"?\\s*(?:#.*)?$`, 'm').exec(text)?.[1];
}

function integer(text: string, key: string): number {
  const value = scalar(text, key);
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`"${key}" is ${value ?? 'missing'}`);
  return Number(value);
}

/** A `preStop` hook as ms of sleeping: `sleep: { seconds }` (Kubernetes 1.30+) or `exec` of `sleep N`. */
function preStop(deployment: string): number {
  const hook = block(deployment, 'preStop', true);
  if (hook === '') return 0;
  const seconds = scalar(hook, 'seconds') ?? /sleep\W+(\d+)/.exec(hook)?.[1];
  if (seconds === undefined) throw new Error(`a preStop hook the simulation cannot run:\n${hook}`);
  return Number(seconds) * 1000;
}

/** A timer that the simulation can cancel when the test ends. */
function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timers.add(timer);
  });
}

export interface ProbeRecord {
  tick: number;
  /** When the kubelet's period put this probe (performance.now()). */
  scheduledAt: number;
  startedAt: number;
  ok: boolean;
  result: number | string | undefined;
}

export interface Termination {
  deletedAt: number;
  sigtermAt: number;
  exitedAt: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  /** The kubelet had to send SIGKILL at the end of the grace period. */
  killed: boolean;
}

/** One pod as the kubelet runs it: readiness probes on their period, and the termination sequence. */
export class Pod {
  readonly probes: ProbeRecord[] = [];
  /** Readiness as the kubelet last concluded it, and when it concluded "not ready". */
  ready = false;
  notReadyAt: ProbeRecord | undefined;
  readonly #numbers: PodNumbers;
  readonly #timers: Set<NodeJS.Timeout>;
  #onReady: (ready: boolean) => void;

  constructor(
    readonly instance: Instance,
    numbers: PodNumbers,
    timers: Set<NodeJS.Timeout>,
    onReady: (ready: boolean) => void,
  ) {
    this.#numbers = numbers;
    this.#timers = timers;
    this.#onReady = onReady;
    void this.#probeLoop();
  }

  get port(): number {
    return this.instance.port;
  }

  /**
   * The kubelet's side of a pod deletion: the preStop hook (if any), SIGTERM, and SIGKILL when the
   * grace period, counted from the deletion, runs out.
   */
  async terminate(deletedAt: number): Promise<Termination> {
    const child = this.instance.child;
    const exitedAt = child.exited.then(() => performance.now());
    let killed = false;
    const kill = setTimeout(() => {
      killed = true;
      child.process.kill('SIGKILL');
    }, this.#numbers.graceMs);
    this.#timers.add(kill);
    if (this.#numbers.preStopMs > 0) await sleep(this.#numbers.preStopMs, this.#timers);
    const sigtermAt = performance.now();
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    clearTimeout(kill);
    return { deletedAt, sigtermAt, exitedAt: await exitedAt, exit, killed };
  }

  /**
   * Probes readiness every period, on a fixed schedule (tick k at start + k × period, none skipped),
   * each on a new connection with the probe's timeout, until the container exits. 200–399 is a
   * success; `failureThreshold` failures in a row make the pod not ready, `successThreshold`
   * successes ready.
   */
  async #probeLoop(): Promise<void> {
    const { path, periodMs, timeoutMs, failureThreshold, successThreshold } = this.#numbers.readiness;
    const child = this.instance.child;
    let exited = false;
    void child.exited.then(() => {
      exited = true;
    });
    const start = performance.now();
    let failures = 0;
    let successes = 0;
    // Bounded: a pod in these tests lives well under 1 000 periods.
    for (let tick = 0; tick < 1_000 && !exited; tick++) {
      const scheduledAt = start + tick * periodMs;
      const wait = scheduledAt - performance.now();
      // The probe period is the simulated quantity here.
      if (wait > 0) await sleep(wait, this.#timers);
      if (exited) return;
      const startedAt = performance.now();
      const outcome = await probe(this.instance.port, path, timeoutMs);
      const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 400;
      const record = { tick, scheduledAt, startedAt, ok, result: outcome.status ?? outcome.error };
      this.probes.push(record);
      failures = ok ? 0 : failures + 1;
      successes = ok ? successes + 1 : 0;
      if (!this.ready && successes >= successThreshold) {
        this.ready = true;
        this.#onReady(true);
      } else if (this.ready && failures >= failureThreshold) {
        this.ready = false;
        this.notReadyAt = record;
        this.#onReady(false);
      }
    }
  }
}

/**
 * A Service: pods, the routing table of their endpoints, and a proxy that routes each new connection
 * to one of them (round robin) and keeps it there for the connection's life, as kube-proxy's NAT does.
 * A connection to a pod that refuses or resets it is reset for the client: a lost request.
 */
export class Service {
  readonly #numbers: PodNumbers;
  readonly #procs: Processes;
  readonly #endpoints: number[] = [];
  /** When each deleted pod's endpoint leaves the routing table (performance.now()). */
  readonly #removals = new Map<number, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sockets = new Set<net.Socket>();
  readonly #server = net.createServer({ allowHalfOpen: true }, (client) => this.#route(client));
  #next = 0;
  port = 0;

  constructor(numbers: PodNumbers, procs: Processes) {
    this.#numbers = numbers;
    this.#procs = procs;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /**
   * Starts a pod (its container is up once the process listens) with the manifest's environment plus
   * `env`; resolves once the kubelet found it ready and its endpoint is in the routing table.
   */
  async startPod(port: number, env: Record<string, string> = {}): Promise<Pod> {
    const instance = await this.#procs.instance(port, { ...this.#numbers.env, ...env });
    let resolveReady!: () => void;
    const ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
    });
    const pod = new Pod(instance, this.#numbers, this.#timers, (isReady) => {
      // A pod that turns ready joins the endpoints. Here a pod turns unready only once it is deleted,
      // and a deleted pod leaves the endpoints through deletePod's delayed removal (Kubernetes takes
      // terminating pods out whatever their readiness says).
      if (isReady && !this.#endpoints.includes(port)) {
        this.#endpoints.push(port);
        resolveReady();
      }
    });
    await Promise.race([
      ready,
      instance.child.exited.then(() => Promise.reject(new Error(`pod on ${port} exited before ready`))),
    ]);
    return pod;
  }

  /**
   * Deletes a pod: the kubelet terminates it at once while the endpoint removal reaches the routing
   * table `removalDelayMs` later (the endpoints controller, the API server and kube-proxy on every
   * node take that long in a real cluster; seconds are common). Resolves when the pod has exited.
   * The removal is a time, checked as each connection is routed, not a timer: a busy test process
   * that runs a timer late would simulate a slower propagation than asked.
   */
  async deletePod(pod: Pod, removalDelayMs: number): Promise<Termination & { removedAt: number }> {
    const deletedAt = performance.now();
    const removedAt = deletedAt + removalDelayMs;
    this.#removals.set(pod.port, removedAt);
    const termination = await pod.terminate(deletedAt);
    return { ...termination, removedAt };
  }

  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
  }

  #route(client: net.Socket): void {
    const now = performance.now();
    const routable = this.#endpoints.filter((p) => (this.#removals.get(p) ?? Number.POSITIVE_INFINITY) > now);
    const port = routable[this.#next++ % Math.max(1, routable.length)];
    if (port === undefined) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    // Refused, or reset by the pod: the client's connection is reset too.
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => {
      if (!client.destroyed && client.writableFinished) client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }
}
