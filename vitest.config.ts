import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['properties/**/*.test.ts'],
    setupFiles: ['properties/setup.ts'],
    // Deep runs (FC_NUM_RUNS) may take long; the default suite must stay quick.
    testTimeout: process.env.FC_NUM_RUNS ? 3_600_000 : 120_000,
    hookTimeout: 120_000,
    // Two cores: one worker per core.
    pool: 'forks',
    maxWorkers: 2,
  },
});
