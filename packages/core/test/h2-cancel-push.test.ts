import { once } from 'node:events';
import http2 from 'node:http2';
import { createLameduck } from '@lameduck/core';
import { cleanupAfterEach, deferred } from '@lameduck/testkit';
import { describe, expect, it } from 'vitest';

const cleanup = cleanupAfterEach();

describe('HTTP/2 sessions cancelled at the deadline', () => {
  it('destroying sessions with CANCEL at the deadline raises no error on a pushed stream the application holds', async () => {
    const lameduck = createLameduck({ signals: false, logger: false, timeout: 300 });
    const server = http2.createServer();
    const pushed = deferred();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.write('first chunk');
      stream.pushStream({ ':path': '/pushed' }, (err, push) => {
        if (err) throw err;
        push.respond({ ':status': 200 });
        push.write('pushed chunk');
        pushed.resolve();
      });
    });
    lameduck.attach(server);
    const port = await cleanup.listen(server);
    cleanup(() => lameduck.dispose());

    const errors: unknown[] = [];
    const onUncaught = (err: unknown) => errors.push(err);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    cleanup(() => {
      process.removeListener('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    });

    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanup(() => session.destroy());
    session.on('error', () => {});
    session.on('stream', (push) => push.on('error', () => {}).resume());
    const req = session.request({ ':path': '/hold' });
    req.on('error', () => {});
    req.resume();
    await once(req, 'response');
    await pushed.promise;

    const report = await lameduck.shutdown('test');
    await new Promise((r) => (session.closed ? r(undefined) : session.on('close', r)));
    console.log('report.deadlineReached', report.deadlineReached, 'uncaught:', errors.map(String));
    expect(report.deadlineReached).toBe(true);
    expect(errors).toEqual([]);
  });
});
