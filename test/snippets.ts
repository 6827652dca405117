// The ```ts blocks of the README and the guides, shared by the guides' and the package's tests.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A ```ts block of a guide, compiled as the module a reader would paste. */
export interface Snippet { guide: string; line: number; code: string }

/** The README and every guide in docs/, relative to `root`. */
export function guidesIn(root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => join('docs', f))];
}

/**
 * Every ```ts block is a module of its own. A block fenced ```ts continued goes on from the
 * block before it in the same guide (the two compile as one module): the guide says so where used.
 */
export function snippetsOf(guide: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  for (const m of text.matchAll(/^```ts( continued)?\n([\s\S]*?)^```/gm)) {
    const line = text.slice(0, m.index).split('\n').length;
    const prev = out.at(-1);
    if (m[1]) {
      if (!prev) throw new Error(`${guide}:${line}: a continued block needs a block before it`);
      prev.code += `\n${m[2]}`;
    } else out.push({ guide, line, code: m[2]! });
  }
  return out;
}

/** Every snippet of the README and the guides under `root`. */
export function allSnippets(root: string): Snippet[] {
  return guidesIn(root).flatMap((g) => snippetsOf(g, readFileSync(join(root, g), 'utf8')));
}
