import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAdminSocket } from '../src/admin-socket.js';
import type { Keeper } from '../src/supervisor.js';
import { tmpDir } from './helpers.js';

describe('the keeper admin socket (--control)', () => {
  it('is created owner-only without leaving the process umask changed across an await', async () => {
    const controlPath = path.join(tmpDir(), 'control.sock');
    const before = process.umask();
    const keeper = { status: async () => ({}), reload: async () => ({ ok: true, generation: 1 }) };
    const opening = openAdminSocket(controlPath, keeper as unknown as Keeper);
    // openAdminSocket has returned to its first await: whatever the process creates from here on must get
    // its usual mode.
    expect(process.umask()).toBe(before);
    const server = await opening;
    try {
      expect(fs.statSync(controlPath).mode & 0o777).toBe(0o600);
      expect(process.umask()).toBe(before);
    } finally {
      server.close();
    }
  });
});
