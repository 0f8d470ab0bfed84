import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The daemon registers the backing stores with the core at start-up; in-process tests do it here.
    setupFiles: ['test/helpers/register-backstores.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start daemons and real initiators; two cores only.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
