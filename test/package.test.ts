import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'voxline-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('installs into a fresh project and imports with both import and require', () => {
    // The project's .npmrc turns lifecycle scripts off (no dependency may run an install script),
    // so `prepack` does not build: build first.
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
    execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: app, stdio: 'pipe' });
    writeFileSync(join(app, 'esm.mjs'), `
      import { VoiceSession, DeepgramStt, gateway, SentenceChunker } from 'voxline';
      import { virtualSpeaker } from 'voxline/adapters';
      import { DeepgramEmulator } from 'voxline/testing';
      const c = new SentenceChunker({ firstChunkWords: 0 });
      console.log(typeof VoiceSession, typeof DeepgramStt, typeof gateway, typeof virtualSpeaker, typeof DeepgramEmulator, c.push('Hi there. Next').join('|'));`);
    writeFileSync(join(app, 'cjs.cjs'), `
      const { VoiceSession, OpenAiLlm } = require('voxline');
      const { virtualSpeaker } = require('voxline/adapters');
      const { OpenAiEmulator } = require('voxline/testing');
      console.log(typeof VoiceSession, typeof OpenAiLlm, typeof virtualSpeaker, typeof OpenAiEmulator);`);
    expect(execFileSync('node', ['esm.mjs'], { cwd: app }).toString().trim()).toBe('function function function function function Hi there.');
    expect(execFileSync('node', ['cjs.cjs'], { cwd: app }).toString().trim()).toBe('function function function function');
  }, 180_000);
});
