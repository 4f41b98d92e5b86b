import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end suites share the local Redis; each uses its own key prefix, but running
    // files one at a time keeps timings calm on a 2-core machine.
    fileParallelism: false,
  },
});
