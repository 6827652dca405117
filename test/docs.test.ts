import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const guides = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** A ```ts block of a guide, compiled as the module a reader would paste. */
interface Snippet { guide: string; line: number; code: string }

/**
 * Every ```ts block is a module of its own. A block fenced ```ts continued goes on from the
 * block before it in the same guide (the two compile as one module): the guide says so where used.
 */
function snippetsOf(guide: string, text: string): Snippet[] {
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

const entryPoints = { voxline: 'src/index.ts', 'voxline/adapters': 'src/adapters/index.ts', 'voxline/testing': 'src/testing/index.ts', 'voxline/server': 'src/server/index.ts' };

/** Type-checks snippets, strict, importing voxline's public entry points only; returns the errors. */
function compileSnippets(snippets: Snippet[]): string[] {
  const files = new Map(snippets.map((s, i) => [join(root, '.snippets', `${s.guide.replace(/\W/g, '_')}_${s.line}_${i}.ts`), s]));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force, // every block is a module: top-level await works
    strict: true,
    noImplicitOverride: true,
    esModuleInterop: true,
    skipLibCheck: true,
    isolatedModules: true,
    noEmit: true,
    types: ['node'],
    paths: Object.fromEntries(Object.entries(entryPoints).map(([k, v]) => [k, [join(root, v)]])),
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.readFile = (f) => files.get(f)?.code ?? readFile(f);
  host.getSourceFile = (f, lang, ...rest) =>
    files.has(f) ? ts.createSourceFile(f, files.get(f)!.code, lang) : getSourceFile(f, lang, ...rest);
  const program = ts.createProgram([...files.keys(), join(root, 'src/types.d.ts')], options, host);
  const errors: string[] = [];
  for (const [file, s] of files) {
    const sf = program.getSourceFile(file)!;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
      errors.push(`${s.guide}:${s.line + 1 + at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
    // Imports from the public entry points only: never a path into src/.
    for (const imp of sf.statements.filter(ts.isImportDeclaration)) {
      const spec = (imp.moduleSpecifier as ts.StringLiteral).text;
      if (spec.startsWith('.') || spec.includes('/src/')) errors.push(`${s.guide}:${s.line}: imports '${spec}', not a public entry point`);
    }
  }
  return errors;
}

describe('the guides', () => {
  const snippets = guides.flatMap((g) => snippetsOf(g, readFileSync(join(root, g), 'utf8')));

  it('every TypeScript block compiles as shown, imports included (strict)', () => {
    expect(snippets.length).toBeGreaterThan(15); // 19 modules today (23 blocks)
    expect(compileSnippets(snippets)).toEqual([]);
  }, 120_000);

  it('the check catches a wrong import and a missing one', () => {
    const errors = compileSnippets([
      { guide: 'wrong.md', line: 1, code: "import { toneSynthesizer } from 'voxline/testing';\nconsole.log(toneSynthesizer);\n" },
      { guide: 'missing.md', line: 1, code: "const s = new VoiceSession({} as never);\n" },
      { guide: 'src.md', line: 1, code: "import { tool } from '../src/index';\nconsole.log(tool);\n" },
    ]);
    expect(errors.some((e) => e.startsWith('wrong.md:2') && e.includes("has no exported member 'toneSynthesizer'"))).toBe(true);
    expect(errors.some((e) => e.startsWith('missing.md:2') && e.includes("Cannot find name 'VoiceSession'"))).toBe(true);
    expect(errors.some((e) => e.startsWith('src.md:1') && e.includes('not a public entry point'))).toBe(true);
  });
});

describe('the API reference', () => {
  it('builds with typedoc without a single warning (every export and every member documented)', async () => {
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
