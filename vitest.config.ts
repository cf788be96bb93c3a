import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'protocols/**/*.test.ts', 'drivers/**/*.test.ts', 'src/**/*.test.ts', 'fuzz/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
