import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readWav } from '../src/index';

const out = mkdtempSync(join(tmpdir(), 'voxline-demo-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Checks that every tag is closed in order (the SVG is well-formed XML). */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) { if (stack.pop() !== m[2]) return false; } else stack.push(m[2]!);
  }
  return stack.length === 0;
}

describe('the offline demo', () => {
  it('runs a whole conversation offline and writes a stereo WAV, the transcript and the timeline', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['AIGATEWAY_API_KEY', 'DEEPGRAM_API_KEY', 'OPENAI_API_KEY', 'ELEVENLABS_API_KEY']) delete env[k];
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'src/cli/index.ts', 'demo', '--fast', '--out', out], { cwd: join(import.meta.dirname, '..'), env, timeout: 120_000 });
    expect(stdout).toContain('local emulators');
    // Redirected output is plain text: no terminal escape codes, no carriage returns.
    expect(stdout).not.toMatch(/[\x1b\r]/);
    expect(stdout).toContain('tool call: lookup_order');
    // Exactly the one interruption the README describes (the caller's next line waits for the answer to it).
    expect(stdout.match(/barged in/g)).toHaveLength(1);
    expect(stdout).toMatch(/p50 .*\n p95/);

    const wav = readWav(readFileSync(join(out, 'conversation.wav')), { allowStereo: true });
    expect(wav.channels).toBe(2);
    expect(wav.sampleRate).toBe(16000);
    const seconds = wav.samples.length / 2 / wav.sampleRate;
    expect(seconds).toBeGreaterThan(20);
    expect(seconds).toBeLessThan(60);
    let left = 0, right = 0;
    for (let i = 0; i < wav.samples.length; i += 2) { left += Math.abs(wav.samples[i]!); right += Math.abs(wav.samples[i + 1]!); }
    expect(left).toBeGreaterThan(0);
    expect(right).toBeGreaterThan(0);

    const t = JSON.parse(readFileSync(join(out, 'transcript.json'), 'utf8'));
    expect(t.transcript.filter((e: any) => e.role === 'user').map((e: any) => e.text)).toEqual([
      'Hi there I need help with an order', 'Where is order 4417', 'Can you tell me about your company', 'Sorry what are your opening hours', 'Thanks that is all goodbye',
    ]);
    expect(t.transcript.some((e: any) => e.interrupted)).toBe(true);
    expect(t.turns.length).toBe(4);
    expect(t.history.some((m: any) => m.role === 'tool')).toBe(true);

    const svg = readFileSync(join(out, 'timeline.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(wellFormed(svg)).toBe(true);
    expect((svg.match(/<rect/g) ?? []).length).toBeGreaterThan(20);
  }, 150_000);
});

describe('the demo with some provider keys but not all three', () => {
  it('says which key is missing and that it runs on the emulators, instead of running offline silently', async () => {
    const { runDemo } = await import('../src/cli/demo');
    let text = '';
    const dir = mkdtempSync(join(out, 'partial-'));
    await runDemo({ mic: false, fast: true, outDir: dir, env: { DEEPGRAM_API_KEY: 'dg-key', OPENAI_API_KEY: 'oa-key' }, tty: false, write: (t) => void (text += t) });
    expect(text).toContain('DEEPGRAM_API_KEY and OPENAI_API_KEY are set but not ELEVENLABS_API_KEY: real providers need all three (or AIGATEWAY_API_KEY alone), so the demo runs on the local emulators');
    expect(text).toContain('voxline demo: providers are local emulators');
    expect(text).not.toContain('dg-key'); // names only, never values
  }, 60_000);
});
