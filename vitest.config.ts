import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^voxline\/adapters$/, replacement: src('adapters/index.ts') },
      { find: /^voxline\/testing$/, replacement: src('testing/index.ts') },
      { find: /^voxline\/server$/, replacement: src('server/index.ts') },
      { find: /^voxline$/, replacement: src('index.ts') },
    ],
  },
  test: {
    // examples/testing-your-agent.ts is itself a vitest file (the one users copy).
    include: ['test/**/*.test.ts', 'examples/testing-your-agent.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
