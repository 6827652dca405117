import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'voxline-pack-'));
const app = join(dir, 'app');
const pkg = join(app, 'node_modules', 'voxline');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
// Asynchronous, so that the test worker stays responsive during minutes of building and compiling.
const run = promisify(execFile);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ```ts blocks of the README, in order. */
const readmeSnippets = () => [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** A snippet as a CommonJS module: its imports, and its body in a function (no top-level await in CJS). */
function asCjs(snippet: string): string {
  const lines = snippet.split('\n');
  return `${lines.filter((l) => l.startsWith('import ')).join('\n')}\nexport async function main(): Promise<void> {\n${lines.filter((l) => !l.startsWith('import ')).join('\n')}\n}\n`;
}

describe('the packed tarball', () => {
  beforeAll(async () => {
    // The project's .npmrc turns lifecycle scripts off (no dependency may run an install script),
    // so `prepack` does not build: build first.
    await run('npm', ['run', 'build'], { cwd: root });
    await run('npm', ['pack', '--pack-destination', dir], { cwd: root });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    execFileSync('mkdir', ['-p', app]);
    // A fresh app with nothing but voxline: no @types, no TypeScript settings to help.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: app });
  }, 240_000);

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

  it("runs the README's offline snippet as shown", async () => {
    const offline = readmeSnippets().find((s) => s.includes('GatewayEmulator'))!;
    writeFileSync(join(app, 'offline.mjs'), offline);
    const { stdout: out } = await run('node', ['offline.mjs'], { cwd: app, timeout: 60_000 });
    expect(out).toContain('user: What are your opening hours?');
    expect(out).toMatch(/agent: \S/);
  }, 90_000);

  it('type-checks the README snippets in strict consumers (node16, nodenext with exactOptionalPropertyTypes, bundler; ESM and CJS) with nothing else installed', async () => {
    const snippets = readmeSnippets();
    expect(snippets.length).toBeGreaterThanOrEqual(2);
    const files: string[] = [];
    snippets.forEach((s, i) => {
      writeFileSync(join(app, `readme${i}.mts`), s);
      writeFileSync(join(app, `readme${i}.cts`), asCjs(s));
      files.push(`readme${i}`);
    });
    for (const resolution of ['node16', 'nodenext', 'bundler'] as const) {
      const module = resolution === 'bundler' ? 'esnext' : resolution;
      // bundler resolution is for ESM code; node16/nodenext check both module kinds.
      const sources = files.flatMap((f) => (resolution === 'bundler' ? [`${f}.mts`] : [`${f}.mts`, `${f}.cts`]));
      // nodenext also with exactOptionalPropertyTypes: the README passes `process.env.X` (maybe undefined) to options.
      const exact = resolution === 'nodenext' ? { exactOptionalPropertyTypes: true } : {};
      writeFileSync(join(app, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions: { strict: true, ...exact, module, moduleResolution: resolution, target: 'es2022', noEmit: true, skipLibCheck: false }, files: sources }));
      let output = '';
      try {
        await run(tsc, ['-p', `tsconfig.${resolution}.json`], { cwd: app });
      } catch (err) {
        output = String((err as { stdout?: string }).stdout ?? err);
      }
      expect(output, resolution).toBe('');
    }
  }, 120_000);

  it('stands alone on npm: LICENSE, repository links, and every file the README and typings point at', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.repository).toBeTruthy();
    expect(manifest.homepage).toBeTruthy();
    expect(manifest.bugs).toBeTruthy();
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).toMatch(/MIT License/);
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(existsSync(join(pkg, link)), link).toBe(true);
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
