import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appCommand, binPath, get, killAfterEach, nodeArgs, socketActivate, tmpDir } from './helpers.js';

const seenPids = killAfterEach();

describe.skipIf(process.platform !== 'linux')('the keeper under systemd-socket-activate', () => {
  it('takes the inherited socket and passes it on to its workers', async () => {
    const control = path.join(tmpDir(), 'c.sock');
    const { launcher, port } = await socketActivate(
      [
        process.execPath,
        ...nodeArgs,
        binPath,
        'run',
        '--control',
        control,
        '--settle',
        '100ms',
        '--',
        ...appCommand,
      ],
      { message: 'kept', name: 'web' },
      seenPids,
    );
    const answer = await get(port);
    expect(answer.body).toBe('kept\n');
    const held = await launcher.msg('socket held');
    expect(held).toMatchObject({
      socket: 'web',
      name: 'web',
      fd: 3,
      address: `127.0.0.1:${port}`,
      origin: 'systemd',
      keeper: launcher.pid,
    });
    expect(answer.pid).not.toBe(launcher.pid);
    launcher.signal('SIGTERM');
    expect((await launcher.exited).code).toBe(0);
  });
});
