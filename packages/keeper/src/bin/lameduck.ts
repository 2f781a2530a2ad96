#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../cli.js';

/**
 * The version of the package this bin belongs to: the first `@lameduck/keeper` package.json above the
 * real path of the script (dist/esm/bin/ when installed, src/bin/ in the repository). The script's own
 * path comes from argv because the bin is built for ESM and CommonJS alike.
 */
function version(): string {
  try {
    let dir = path.dirname(fs.realpathSync(process.argv[1] ?? ''));
    for (let up = 0; up < 6; up++, dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === '@lameduck/keeper' && typeof pkg.version === 'string') return pkg.version;
    }
  } catch {}
  return 'unknown';
}

main(process.argv.slice(2), { version: version() }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Not a usage error (those are one line, exit 2): a bug or an environment problem, with its stack.
    process.stderr.write(
      `lameduck: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(70);
  },
);
