import { execFile } from 'node:child_process';

/**
 * systemd's readiness protocol (sd_notify(3)). Node cannot open the unix datagram socket named by
 * `NOTIFY_SOCKET`, so this runs `systemd-notify`, which can. With `--pid`, the message also sets
 * `MAINPID=`, which is how a process that replaced its parent tells systemd to follow it (the unit then
 * needs `NotifyAccess=all`, since the message does not come from the current main process).
 * https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html
 */
export function systemdNotify(
  fields: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ sent: boolean; error?: string }> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve({ sent: false, error: 'NOTIFY_SOCKET is not set' });
  return new Promise((resolve) => {
    const child = execFile('systemd-notify', [...fields], { env, timeout: 5_000 }, (error) => {
      resolve(error ? { sent: false, error: error.message } : { sent: true });
    });
    child.unref();
  });
}
