import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLameduck } from '../../src/index.js';
import { type ChildEvent, CONTROL_PROTOCOL_VERSION, spawnChild } from '../../src/restart/control.js';
import { get, nodeArgs, tmpDir } from './helpers.js';

const peer = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures/control-peer.ts');

/** The fixture peer as a keeper's worker; it writes what it heard to `out`. */
function spawnPeer(out: string): ReturnType<typeof spawnChild> {
  return spawnChild({
    command: [process.execPath, ...nodeArgs, peer],
    fds: [],
    names: [],
    role: 'keeper',
    env: { ...process.env, OUT: out },
  });
}

/** The raw lines the parent reads on the channel, beside what spawnChild makes of them. */
function rawLines(channel: ReturnType<typeof spawnChild>): string[] {
  const lines: string[] = [];
  let buffer = '';
  (channel.child.stdio[3] as net.Socket).on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  return lines;
}

/** Its exit code, once its end of the channel is read to the end too ('close', not 'exit'). */
function exited(channel: ReturnType<typeof spawnChild>): Promise<number | null> {
  return new Promise((resolve) => channel.child.once('close', (code) => resolve(code)));
}

describe('the control channel protocol version', () => {
  it('is carried by every message, and the child says hello when it opens the channel', async () => {
    const out = path.join(tmpDir(), 'out.json');
    const channel = spawnPeer(out);
    const raw = rawLines(channel);
    const hello = await new Promise<ChildEvent>((resolve) => channel.on(resolve));
    expect(hello).toEqual({ type: 'hello', pid: channel.child.pid });
    expect(JSON.parse(raw[0] ?? '')).toEqual({
      v: CONTROL_PROTOCOL_VERSION,
      type: 'hello',
      pid: channel.child.pid,
    });
    channel.child.kill('SIGKILL');
    await exited(channel);
  });

  it('a child does not act on a message of another version: it answers unsupported and names both versions', async () => {
    const out = path.join(tmpDir(), 'out.json');
    const channel = spawnPeer(out);
    const raw = rawLines(channel);
    const events: ChildEvent[] = [];
    channel.on((event) => events.push(event));
    const done = exited(channel);
    // A keeper of a later release: a stats request of version 2 (and an adopt, which must not adopt).
    const socket = channel.child.stdio[3] as net.Socket;
    socket.write(`${JSON.stringify({ v: 2, type: 'stats' })}\n${JSON.stringify({ v: 2, type: 'adopt' })}\n`);
    expect(await done).toBe(0);
    const heard = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(heard).toMatchObject({ type: 'incompatible', theirs: 2, ours: CONTROL_PROTOCOL_VERSION });
    expect(heard.message).toBe(
      `The keeper speaks control protocol version 2, but this process (pid ${channel.child.pid}) speaks version ${CONTROL_PROTOCOL_VERSION}: install @lameduck/keeper and @lameduck/core at the same version.`,
    );
    // Its answer: hello, then `unsupported` (never a stats answer), each with its own version.
    const answers = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(answers[0]).toMatchObject({ v: CONTROL_PROTOCOL_VERSION, type: 'hello' });
    expect(answers.slice(1)[0]).toEqual({ v: CONTROL_PROTOCOL_VERSION, type: 'unsupported', got: 2 });
    expect(answers.some((a) => a.type === 'stats')).toBe(false);
    // The parent heard the child's unsupported answer as an incompatible peer, naming the child's version.
    expect(events.find((e) => e.type === 'incompatible')).toMatchObject({ theirs: CONTROL_PROTOCOL_VERSION });
  });

  it("a worker's lifecycle logs an incompatible keeper at error level, naming both versions", async () => {
    const out = path.join(tmpDir(), 'out.json');
    const channel = spawnChild({
      command: [process.execPath, ...nodeArgs, path.join(path.dirname(peer), 'incompatible-worker.ts')],
      fds: [],
      names: [],
      role: 'keeper',
      env: { ...process.env, OUT: out },
    });
    const done = exited(channel);
    // Once it has said hello, its channel is open (and wired when listen() began).
    await new Promise<void>((resolve) => channel.on((e) => e.type === 'hello' && resolve()));
    (channel.child.stdio[3] as net.Socket).write(`${JSON.stringify({ v: 2, type: 'stats' })}\n`);
    expect(await done).toBe(0);
    const logged = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(logged.fields).toEqual({ theirs: 2, ours: CONTROL_PROTOCOL_VERSION });
    expect(logged.msg).toMatch(/^The keeper speaks control protocol version 2, but this process/);
  });

  it('a parent does not act on a message of another version (or none): it answers unsupported and reports both versions', async () => {
    // A worker of another release: its hello and ready are of version 3, then one with no version at all.
    const script = `
const net = require('node:net');
const s = new net.Socket({ fd: Number(process.env.LAMEDUCK_CONTROL_FD), readable: true, writable: true });
s.write(JSON.stringify({ v: 3, type: 'ready', pid: process.pid }) + '\\n' + JSON.stringify({ type: 'ready', pid: process.pid }) + '\\n');
let got = '';
s.setEncoding('utf8');
s.on('data', (c) => { got += c; if (got.split('\\n').length > 2) { require('node:fs').writeFileSync(process.env.OUT, got); process.exit(0); } });
`;
    const out = path.join(tmpDir(), 'out.txt');
    const channel = spawnChild({
      command: [process.execPath, '-e', script],
      fds: [],
      names: [],
      role: 'keeper',
      env: { ...process.env, OUT: out },
    });
    const events: ChildEvent[] = [];
    channel.on((event) => events.push(event));
    expect(await exited(channel)).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['incompatible', 'incompatible']);
    const [three, none] = events as Extract<ChildEvent, { type: 'incompatible' }>[];
    expect(three).toMatchObject({ theirs: 3, ours: CONTROL_PROTOCOL_VERSION, pid: channel.child.pid });
    expect(three?.message).toBe(
      `The worker (pid ${channel.child.pid}) speaks control protocol version 3, but this keeper speaks version ${CONTROL_PROTOCOL_VERSION}: install @lameduck/keeper and @lameduck/core at the same version.`,
    );
    expect(none?.theirs).toBeNull();
    expect(none?.message).toMatch(
      /speaks a control protocol without a version, but this keeper speaks version 1/,
    );
    const answers = fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(answers).toEqual([
      { v: CONTROL_PROTOCOL_VERSION, type: 'unsupported', got: 3 },
      { v: CONTROL_PROTOCOL_VERSION, type: 'unsupported', got: null },
    ]);
  });

  it('restart() rolls back at once when the new process speaks another version, naming both', async () => {
    const lameduck = createLameduck({ signals: false, logger: false });
    const server = http.createServer((_req, res) => res.end('old\n'));
    const address = await lameduck.listen(server, { port: 0, host: '127.0.0.1' }, { autoReady: false });
    const port = (address as { port: number }).port;
    // The new release: its ready report is of version 2. The ready timeout is a safety net only.
    const script = `
const net = require('node:net');
const s = new net.Socket({ fd: Number(process.env.LAMEDUCK_CONTROL_FD), readable: true, writable: true });
s.write(JSON.stringify({ v: 2, type: 'ready', pid: process.pid }) + '\\n');
`;
    const failed = lameduck.restart({
      command: [process.execPath, '-e', script],
      readyTimeout: 100_000,
      exit: false,
      logger: false,
    });
    await expect(failed).rejects.toMatchObject({ code: 'LAMEDUCK_ERR_RESTART_PROTOCOL_MISMATCH' });
    await expect(failed).rejects.toThrow(
      new RegExp(
        `^The new process \\(pid \\d+\\) speaks control protocol version 2, but this process \\(pid ${process.pid}\\) speaks version ${CONTROL_PROTOCOL_VERSION}: a self-upgrade cannot cross this change; restart the service once to move to the new release\\. This process keeps serving\\.$`,
      ),
    );
    // This process still serves.
    expect(await get(port)).toMatchObject({ status: 200, body: 'old\n' });
    await lameduck.shutdown('test');
    lameduck.dispose();
  });
});
