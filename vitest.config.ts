import { defineConfig } from 'vitest/config';

// Tests spawn child processes, run real toolchains and start many wasm instances: give them
// room, and keep files in separate workers so a crashing runtime test cannot take others down.
// The global setup turns the instrument cache off (test/helpers/global-setup.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
