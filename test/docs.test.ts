import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { allSnippets, snippetsOf, type Snippet } from './snippets';

const root = join(import.meta.dirname, '..');
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
  const snippets = allSnippets(root);

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

describe('the browser guide', () => {
  it("mounts its handler, and its page connects at that path, where createVoiceServer serves browser calls", async () => {
    const code = snippetsOf('docs/browser.md', readFileSync(join(root, 'docs/browser.md'), 'utf8')).map((s) => s.code).join('\n');
    const connects = /connect\(\{ url: 'ws:\/\/' \+ location\.host \+ '([^']+)'/.exec(code)?.[1];
    const mounted = /=== '([^']+)'\) void calls\.handleUpgrade\(/.exec(code)?.[1];
    expect(connects).toBeDefined();
    expect(mounted).toBe(connects);
    const { createVoiceServer } = await import('../src/server/index');
    const { default: WebSocket } = await import('ws');
    const server = createVoiceServer({ agent: () => ({}) as never, browser: { public: true } });
    const port = await server.listen(0, '127.0.0.1');
    try {
      const opened = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${connects}`);
        ws.once('open', () => (ws.terminate(), resolve(101)));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => resolve(0));
      });
      expect(opened).toBe(101);
    } finally {
      await server.drain();
    }
  });
});

describe('the API reference', () => {
  it('builds with typedoc without a single warning (every export and every member documented), as Markdown', async () => {
    const { execFileSync } = await import('node:child_process');
    const { existsSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const out = mkdtempSync(join(tmpdir(), 'voxline-api-'));
    try {
      // typedoc.json sets treatWarningsAsErrors: a warning fails the build.
      execFileSync('npx', ['typedoc', '--out', out], { cwd: root, stdio: 'pipe' });
      // Markdown that reads on npm and in an editor (the package ships it: see test/package.test.ts).
      expect(readFileSync(join(out, 'index.md'), 'utf8')).toContain('](adapters/index.md)');
      expect(existsSync(join(out, 'index.html'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
