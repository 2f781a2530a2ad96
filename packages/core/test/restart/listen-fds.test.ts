import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress, parseListenEnv } from '../../src/restart/listen-fds.js';
import { appCommand, get, killAfterEach, nodeArgs, socketActivate } from './helpers.js';

const seenPids = killAfterEach();

describe('the systemd variables', () => {
  const pid = process.pid;
  it('are ignored when absent or meant for another process (as sd_listen_fds does)', () => {
    expect(parseListenEnv({}, pid)).toEqual([]);
    expect(parseListenEnv({ LISTEN_FDS: '1' }, pid)).toEqual([]);
    expect(parseListenEnv({ LISTEN_FDS: '1', LISTEN_PID: String(pid + 1) }, pid)).toEqual([]);
    expect(parseListenEnv({ LISTEN_FDS: '0', LISTEN_PID: String(pid) }, pid)).toEqual([]);
  });

  it('are rejected with a clear error when malformed', () => {
    const bad: NodeJS.ProcessEnv[] = [
      { LISTEN_FDS: '1', LISTEN_PID: 'self' },
      { LISTEN_FDS: 'two', LISTEN_PID: String(pid) },
      { LISTEN_FDS: '-1', LISTEN_PID: String(pid) },
      { LISTEN_FDS: '99999', LISTEN_PID: String(pid) },
      { LISTEN_FDS: '2', LISTEN_PID: String(pid), LISTEN_FDNAMES: 'http' },
    ];
    for (const env of bad) {
      expect(() => parseListenEnv(env, pid)).toThrow(
        expect.objectContaining({ code: 'LAMEDUCK_ERR_LISTEN_ENV_INVALID' }),
      );
    }
    // A descriptor that is not open in this process.
    expect(() => parseListenEnv({ LISTEN_FDS: '900', LISTEN_PID: String(pid) }, pid)).toThrow(
      expect.objectContaining({ code: 'LAMEDUCK_ERR_LISTEN_FD_INVALID' }),
    );
  });

  it('addresses parse and print back', () => {
    for (const spec of ['127.0.0.1:8080', '[::1]:8080', ':8080', '/run/app.sock', 'localhost:80']) {
      const a = parseAddress(spec);
      expect(a).toBeDefined();
      if (a) expect(formatAddress(a)).toBe(spec);
    }
    expect(parseAddress('8080')).toEqual({ port: 8080 });
    expect(parseAddress('unix:app.sock')).toEqual({ path: 'app.sock' });
    for (const spec of ['', 'host', '1:2:3', '127.0.0.1:99999', 'unix:'])
      expect(parseAddress(spec)).toBeUndefined();
  });
});

/** systemd-socket-activate passes sockets exactly as systemd does; the keeper's side is in @lameduck/keeper. */
describe.skipIf(process.platform !== 'linux')(
  'under a systemd-style launcher (systemd-socket-activate)',
  () => {
    const launch = (command: readonly string[], config: object) => socketActivate(command, config, seenPids);

    it('the app alone listens on the inherited socket, by address or by name', async () => {
      for (const target of [{ port: 0, host: '127.0.0.1' }, { name: 'web' }]) {
        const { launcher, port } = await launch(
          [process.execPath, ...nodeArgs, appCommand[appCommand.length - 1]!],
          {
            message: 'activated',
            ...target,
          },
        );
        // The first connection starts the app; it is queued, not refused, meanwhile.
        const answer = await get(port);
        expect(answer.body).toBe('activated\n');
        expect(answer.pid).toBe(launcher.pid);
        const listening = await launcher.waitFor((l) => l.app === 'listening');
        expect((listening.address as { port: number }).port).toBe(port);
        launcher.signal('SIGTERM');
        expect((await launcher.exited).code).toBe(0);
      }
    });
  },
);
