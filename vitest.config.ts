import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests start their own server processes; two cores, so keep files in few workers.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
