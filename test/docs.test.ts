import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const examples = readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(root, 'examples', f), 'utf8'));
const guides = [...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f)), 'README.md'];

describe('the guides', () => {
  it.each(guides)('%s: every TypeScript block is taken from an example that CI type-checks', (guide) => {
    const text = readFileSync(join(root, guide), 'utf8');
    for (const m of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const block = m[1]!.trimEnd();
      expect(examples.some((src) => src.includes(block)), `block not found in examples/:\n${block}`).toBe(true);
    }
  });
});

describe('the API reference', () => {
  it('builds with typedoc without a single warning (every export documented)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const out = mkdtempSync(join(tmpdir(), 'voxline-api-'));
    try {
      // typedoc.json sets treatWarningsAsErrors: a warning fails the build.
      execFileSync('npx', ['typedoc', '--out', out], { cwd: root, stdio: 'pipe' });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
