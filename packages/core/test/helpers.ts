// Core's test fixtures; everything else the tests share comes from @lameduck/testkit.
import { fileURLToPath } from 'node:url';
import { type Child, spawnSource } from '@lameduck/testkit';

export type { Child } from '@lameduck/testkit';

/** The path of a file in test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Runs a TypeScript fixture in a child node process, resolving workspace packages to their source. */
export function spawnFixture(file: string, env: Record<string, string> = {}): Child {
  return spawnSource(file, { env });
}
