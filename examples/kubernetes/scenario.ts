// One scenario of the Kubernetes simulation, shared by the test (./kubernetes.test.ts) and the drain
// delay measurement (./measure-drain-delay.ts): two pods behind the Service, client load through it,
// then pod A deleted with its endpoint removal landing `removalDelay` ms later.
import { fileURLToPath } from 'node:url';
import { freePorts, Load, Processes, stderrMatch } from '../harness.js';
import { readManifest, Service } from './cluster.js';

export const manifest = readManifest(fileURLToPath(new URL('./deployment.yaml', import.meta.url)));

/** A number of ms from the manifest's container environment. */
export function manifestMs(name: string): number {
  const value = manifest.env[name];
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`env ${name} is ${value} in the manifest`);
  return Number(value);
}

/**
 * Runs the scenario; `env` is added to the manifest's environment of both pods. Everything it starts is
 * stopped by the function it hands to `onFinished` (a test's `onTestFinished`, or the caller itself).
 */
export async function deleteUnderLoad(
  removalDelay: number,
  env: Record<string, string>,
  onFinished: (stop: () => Promise<void>) => void,
) {
  const procs = new Processes();
  const service = new Service(manifest, procs);
  let load: Load | undefined;
  onFinished(async () => {
    await load?.stop();
    service.close();
    await procs.stopAll();
  });
  await service.listen();
  const [portA, portB] = (await freePorts(2)) as [number, number];
  const [a, b] = await Promise.all([service.startPod(portA, env), service.startPod(portB, env)]);
  // Half the clients keep their connection alive, half open one per request: new connections keep
  // arriving through the routing table while it still lists the terminating pod.
  load = new Load({ port: service.port, concurrency: 8, connectionPerRequest: 4 });
  await Promise.all([load.seen(a.instance.pid), load.seen(b.instance.pid)]);

  const shutdownLogged = stderrMatch(a.instance.child, /shutdown started/).then(() => performance.now());
  const termination = await service.deletePod(a, removalDelay);
  const shutdownAt = await shutdownLogged;
  await load.more(100);
  const servedByAAfterSigterm = load.countSince(a.instance.pid, termination.sigtermAt);
  const report = await load.stop();
  load = undefined;
  return { a, b, termination, shutdownAt, servedByAAfterSigterm, report };
}
