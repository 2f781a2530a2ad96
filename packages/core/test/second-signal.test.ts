import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, fixture, spawnFixture } from './helpers.js';

/**
 * The code the client's stream closed with. Node's client emits 'end' on a stream whatever ended it, so
 * this is what tells a complete response (NO_ERROR: END_STREAM, or the connection's end after a
 * GOAWAY(NO_ERROR)) from one the server cut (a reset with an error code).
 */
function closedWith(stream: http2.ClientHttp2Stream): Promise<number | undefined> {
  stream.resume();
  stream.on('error', () => {});
  return new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode)));
}

describe('a second signal with HTTP/2 streams open', () => {
  const children: Child[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });

  it('resets every open stream with CANCEL before the process exits, so no cut body looks complete', async () => {
    const child = spawnFixture(fixture('h2c-server.ts'));
    children.push(child);
    const port = Number(await child.line('listening '));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const sending = session.request({ ':path': '/hold' });
    const firstChunk = new Promise<void>((resolve) => sending.once('data', () => resolve()));
    const silent = session.request({ ':path': '/silent' });
    const codes = Promise.all([closedWith(sending), closedWith(silent)]);
    await firstChunk;
    await child.line('arrived /silent');

    child.process.kill('SIGTERM');
    await child.line('shutdown SIGTERM');
    child.process.kill('SIGTERM');

    expect(await child.exited).toEqual({ code: 143, signal: null });
    expect(child.stdout()).toMatch(/^forceExit 143$/m);
    expect(await codes).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    session.destroy();
  });
});
