import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../src/index';
import { allSnippets, type Snippet } from './snippets';

// A new user: the packed package installed into a fresh app, as `npm init -y` makes it
// (CommonJS), with nothing else installed. Packing and installing happen once for every check.
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'voxline-pack-'));
const app = join(dir, 'app');
const pkg = join(app, 'node_modules', 'voxline');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
// Asynchronous, so that the test worker stays responsive during minutes of building and compiling.
const run = promisify(execFile);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ```ts blocks of the README, in order. */
const readmeSnippets = () => allSnippets(root).filter((s) => s.guide === 'README.md').map((s) => s.code);

/** The environment of a user with no provider key set. */
function keyless(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/_API_KEY$|_BASE_URL$/.test(k)) delete env[k];
  return env;
}

/**
 * A snippet as a CommonJS module: its imports, and the rest in a function (no top-level await in
 * CommonJS), its exports made local.
 */
function asCjs(snippet: string): string {
  const sf = ts.createSourceFile('snippet.ts', snippet, ts.ScriptTarget.ES2022, true);
  const imports = sf.statements.filter(ts.isImportDeclaration).map((st) => st.getFullText()).join('');
  const local = (st: ts.Statement) => st.getFullText().slice(0, st.getStart() - st.getFullStart()) + st.getText().replace(/^export /, '');
  const body = sf.statements.filter((st) => !ts.isImportDeclaration(st)).map(local).join('');
  return `${imports}\nexport async function main(): Promise<void> {\n${body}\n}\n`;
}

/** Where a compiler message points, as guide:line. */
function locate(output: string, files: Map<string, Snippet>): string {
  return output.replace(/^(\S+?)\((\d+),\d+\)/gm, (all, file: string, line: string) => {
    const s = files.get(file.replace(/\.[cm]ts$/, ''));
    return s ? `${s.guide}:${s.line + Number(line)} (${file})` : all;
  });
}

describe('the packed tarball', () => {
  beforeAll(async () => {
    // The project's .npmrc turns lifecycle scripts off (no dependency may run an install script),
    // so `prepack` does not build: build first.
    await run('npm', ['run', 'build'], { cwd: root });
    await run('npm', ['pack', '--pack-destination', dir], { cwd: root });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    mkdirSync(app);
    // A fresh app with nothing but voxline: no @types, no TypeScript settings to help.
    await run('npm', ['init', '-y'], { cwd: app });
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: app });
    // The testing guide's blocks and examples/testing-your-agent.ts are vitest files: the user who
    // writes them has the test runner (npm install -D vitest); the project's copy stands in for it.
    symlinkSync(join(root, 'node_modules', 'vitest'), join(app, 'node_modules', 'vitest'));
    // docs/tools.md and examples/tools-standard-schema.ts declare tools with the schema libraries a
    // user installs beside voxline (npm install zod valibot @valibot/to-json-schema arktype).
    for (const lib of ['zod', 'valibot', 'arktype', '@ark', '@valibot']) {
      mkdirSync(dirname(join(app, 'node_modules', lib)), { recursive: true });
      symlinkSync(join(root, 'node_modules', lib), join(app, 'node_modules', lib));
    }
  }, 300_000);

  it('imports with both import and require', () => {
    writeFileSync(join(app, 'esm.mjs'), `
      import { VoiceSession, DeepgramStt, gateway, SentenceChunker, SttStream } from 'voxline';
      import { virtualSpeaker } from 'voxline/adapters';
      import { DeepgramEmulator } from 'voxline/testing';
      const c = new SentenceChunker({ firstChunkWords: 0 });
      console.log(typeof VoiceSession, typeof DeepgramStt, typeof gateway, typeof virtualSpeaker, typeof DeepgramEmulator, new DeepgramStt({ apiKey: 'k' }) instanceof SttStream, c.push('Hi there. Next').join('|'));`);
    writeFileSync(join(app, 'cjs.cjs'), `
      const { VoiceSession, OpenAiLlm, SttStream, LlmStream, TtsStream } = require('voxline');
      const { virtualSpeaker } = require('voxline/adapters');
      const { OpenAiEmulator } = require('voxline/testing');
      console.log(typeof VoiceSession, typeof OpenAiLlm, typeof virtualSpeaker, typeof OpenAiEmulator, typeof SttStream, typeof LlmStream, typeof TtsStream);`);
    expect(execFileSync('node', ['esm.mjs'], { cwd: app }).toString().trim()).toBe('function function function function function true Hi there.');
    expect(execFileSync('node', ['cjs.cjs'], { cwd: app }).toString().trim()).toBe('function function function function function function function');
  });

  it("runs the README's offline example as shown, in a .js file once the app is a module as the quickstart says", async () => {
    const made = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).type as string | undefined;
    expect(made ?? 'commonjs').toBe('commonjs'); // npm init -y
    const offline = readmeSnippets().find((s) => s.includes('GatewayEmulator'))!;
    writeFileSync(join(app, 'offline.js'), offline);
    const steps = readFileSync(join(root, 'docs/quickstart.md'), 'utf8').match(/^```sh\n([\s\S]*?)^```/m)![1]!.trim().split('\n');
    expect(steps).toEqual(['npm init -y', 'npm pkg set type=module', 'npm install voxline', 'npx voxline demo']);
    await run('npm', ['pkg', 'set', 'type=module'], { cwd: app });
    try {
      const { stdout: out } = await run('node', ['offline.js'], { cwd: app, timeout: 60_000 });
      expect(out).toContain('user: What are your opening hours?');
      expect(out).toMatch(/agent: \S/);
    } finally {
      await run('npm', made ? ['pkg', 'set', `type=${made}`] : ['pkg', 'delete', 'type'], { cwd: app });
    }
  }, 90_000);

  it('has a voxline command: help, doctor, and the offline demo into the current folder without espeak-ng', async () => {
    const npx = (args: string[], cwd = app) => run('npx', ['--no-install', 'voxline', ...args], { cwd, env: keyless(), timeout: 120_000 });
    expect((await npx(['--help'])).stdout).toMatch(/Commands:\n {2}demo .*\n {2}doctor /);
    expect((await npx(['demo', '--help'])).stdout).toMatch(/^Usage: voxline demo /);
    expect((await npx(['doctor', '--help'])).stdout).toMatch(/^Usage: voxline doctor /);
    const doctor = (await npx(['doctor'])).stdout;
    expect(doctor).toMatch(/^✓ Node\.js /);
    expect(doctor).toContain('espeak-ng is not installed: the demo and the emulators use a tone voice');
    expect(doctor).toContain('no provider key set');

    expect(existsSync(join(app, 'node_modules', 'espeak-ng'))).toBe(false);
    const here = join(app, 'call');
    mkdirSync(here);
    const { stdout } = await npx(['demo', '--fast'], here);
    expect(stdout).toContain('providers are local emulators');
    expect(stdout.split('\n').filter((l) => l.includes('espeak-ng is not installed'))).toEqual(['espeak-ng is not installed: a tone voice speaks instead (npm install espeak-ng for real speech).']);
    expect(stdout).toContain('tool call: lookup_order');
    expect(stdout.match(/barged in/g)).toHaveLength(1);
    expect(readdirSync(here).sort()).toEqual(['conversation.wav', 'timeline.svg', 'transcript.json']);
    expect(readWav(readFileSync(join(here, 'conversation.wav')), { allowStereo: true }).channels).toBe(2);
    const t = JSON.parse(readFileSync(join(here, 'transcript.json'), 'utf8')) as { transcript: { role: string; text: string }[] };
    expect(t.transcript.filter((e) => e.role === 'user')).toHaveLength(5);
  }, 180_000);

  it('type-checks every TypeScript block of the README and the guides in strict consumers with nothing else installed: ESM and CommonJS, with and without exactOptionalPropertyTypes, no skipLibCheck', async () => {
    const snippets = allSnippets(root);
    expect(snippets.length).toBeGreaterThan(15);
    const files = new Map<string, Snippet>();
    snippets.forEach((s, i) => {
      const name = `snippets/${s.guide.replace(/\W/g, '_')}_${s.line}_${i}`;
      files.set(name, s);
      mkdirSync(join(app, 'snippets'), { recursive: true });
      writeFileSync(join(app, `${name}.mts`), s.code);
      writeFileSync(join(app, `${name}.cts`), asCjs(s.code));
    });
    const names = [...files.keys()];
    // vitest and arktype are ESM only: a CommonJS file can import them under nodenext (require of ESM), not node16.
    const usesVitest = (n: string) => /from '(vitest|arktype)'/.test(files.get(n)!.code);
    const consumers = [
      { name: 'nodenext-exact', module: 'nodenext', exactOptionalPropertyTypes: true, cjs: names },
      { name: 'node16', module: 'node16', exactOptionalPropertyTypes: false, cjs: names.filter((n) => !usesVitest(n)) },
    ];
    const failures: string[] = [];
    for (const c of consumers) {
      const compilerOptions = { strict: true, exactOptionalPropertyTypes: c.exactOptionalPropertyTypes, module: c.module, moduleResolution: c.module, moduleDetection: 'force', target: 'es2022', noEmit: true, skipLibCheck: false };
      writeFileSync(join(app, `tsconfig.${c.name}.json`), JSON.stringify({ compilerOptions, files: [...names.map((n) => `${n}.mts`), ...c.cjs.map((n) => `${n}.cts`)] }));
      const output = await run(tsc, ['-p', `tsconfig.${c.name}.json`], { cwd: app }).then(() => '', (err: { stdout?: string }) => String(err.stdout ?? err));
      if (output) failures.push(`${c.name}:\n${locate(output, files)}`);
    }
    expect(failures.join('\n')).toBe('');
  }, 300_000);

  it('ships examples that type-check where they are installed (their tsconfig stands alone)', async () => {
    const output = await run(tsc, ['-p', 'node_modules/voxline/examples/tsconfig.json'], { cwd: app }).then(() => '', (err: { stdout?: string }) => String(err.stdout ?? err));
    expect(output).toBe('');
  }, 120_000);

  it('ships Markdown that holds outside the repository: every relative link resolves in the package, repository-only paths link to the repository, and the API reference is there', () => {
    const shipped = execFileSync('find', ['.', '-name', '*.md', '-not', '-path', './node_modules/*'], { cwd: pkg }).toString().trim().split('\n').map((f) => f.slice(2));
    expect(shipped).toContain('docs/api/index.md');
    expect(shipped.filter((f) => f.startsWith('docs/api/')).length).toBeGreaterThan(50);
    const broken: string[] = [];
    const repoOnly: string[] = [];
    for (const file of shipped) {
      const text = readFileSync(join(pkg, file), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/i.test(target)) continue;
        if (!existsSync(join(pkg, dirname(file), decodeURIComponent(target)))) broken.push(`${file}: ${m[1]}`);
      }
      // The reference is generated; the changelog is the project's history, read in the repository too.
      if (file.startsWith('docs/api/') || file === 'CHANGELOG.md') continue;
      // Prose only (fenced blocks are code), and not the repository links themselves.
      const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/\[[^\]]*\]\(https:\/\/github\.com\/voxline\/voxline\/[^)]*\)/g, '');
      for (const m of prose.matchAll(/(?<![\w./-])((?:test|bench|src)\/[\w./*-]*\w)/g)) {
        const path = m[1]!.split('*')[0]!.replace(/\/$/, '');
        if (existsSync(join(root, path)) && !existsSync(join(pkg, path))) repoOnly.push(`${file}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
    expect(repoOnly).toEqual([]);
  });

  it('stands alone on npm: LICENSE, repository links, typings that point at no repository file', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.repository).toBeTruthy();
    expect(manifest.homepage).toBeTruthy();
    expect(manifest.bugs).toBeTruthy();
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).toMatch(/MIT License/);
    const typings = execFileSync('find', ['dist', '-name', '*.d.*ts'], { cwd: pkg }).toString().trim().split('\n');
    for (const t of typings) expect(readFileSync(join(pkg, t), 'utf8'), t).not.toMatch(/PROTOCOLS\.md/);
  });

  it("needs prom-client only to make a server (an optional peer): without it, a ConfigError that says what to install", () => {
    expect(existsSync(join(app, 'node_modules', 'prom-client'))).toBe(false);
    const probe = `try { createVoiceServer({ agent: () => ({}) }); console.log('made'); } catch (e) { console.log(e.name, e.code, e.message.includes('npm install prom-client')); }`;
    writeFileSync(join(app, 'server.mjs'), `import 'voxline';\nimport { createVoiceServer } from 'voxline/server';\n${probe}`);
    writeFileSync(join(app, 'server.cjs'), `const { createVoiceServer } = require('voxline/server');\n${probe}`);
    for (const file of ['server.mjs', 'server.cjs']) expect(execFileSync('node', [file], { cwd: app }).toString().trim(), file).toBe('ConfigError config_error true');
  });
});
