import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources of the workspace packages, not their builds.
    conditions: ['@lameduck/source'],
  },
  ssr: {
    resolve: {
      conditions: ['@lameduck/source'],
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process tests spawn Node; two cores go further with a small pool.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
