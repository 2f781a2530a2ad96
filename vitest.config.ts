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
    // Safety nets sized for a loaded 2-core machine (`npm run test:stress`): no test's outcome depends on
    // them, they only bound a test that hangs.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Child-process tests spawn Node; two cores go further with a small pool.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
