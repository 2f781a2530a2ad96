// `run.ts [connections] [pairs]`: heap bytes per idle keep-alive connection, bare vs lameduck, in
// server processes of their own; the connections come from this process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [countArg = '2000', pairsArg = '3'] = process.argv.slice(2);
const count = Number(countArg);

async function measure(mode: string): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--conditions=@lameduck/source',
      '--import',
      'tsx',
      path.join(here, 'server.ts'),
      mode,
      countArg,
    ],
    { cwd: path.resolve(here, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let buffer = '';
  const next = () =>
    new Promise<string>((resolve) => {
      const check = () => {
        const nl = buffer.indexOf('\n');
        if (nl === -1) return false;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        resolve(line);
        return true;
      };
      if (check()) return;
      const onData = (c: Buffer) => {
        buffer += c;
        if (check()) child.stdout!.off('data', onData);
      };
      child.stdout!.on('data', onData);
    });
  const { port } = JSON.parse(await next()) as { port: number };
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async () => {
        const s = net.connect(port, '127.0.0.1');
        sockets.push(s);
        await once(s, 'connect');
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await once(s, 'data');
      }),
    );
  }
  const result = JSON.parse(await next()) as { perConnection: number };
  lines.push(String(result.perConnection));
  for (const s of sockets) s.destroy();
  await once(child, 'exit');
  return result.perConnection;
}

for (let i = 0; i < Number(pairsArg); i++) {
  const bare = await measure('bare');
  const ld = await measure('lameduck');
  console.log(
    `pair ${i + 1}: bare ${bare} B/conn, lameduck ${ld} B/conn, lameduck's own ${ld - bare} B/conn`,
  );
}
