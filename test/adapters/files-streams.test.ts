import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { AudioFormatError, ConfigError, readWav, writeWav } from '../../src/index';
import { pcmInput, pcmOutput, requireProgram, soxMic, soxSpeaker, wavFileInput, wavFileOutput } from '../../src/adapters/index';
import { virtualClock } from '../../src/testing/index';
import { collect, sleep } from '../helpers';

const dir = mkdtempSync(join(tmpdir(), 'voxline-adapters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ramp = (n: number) => Int16Array.from({ length: n }, (_, i) => (i % 2000) - 1000);
let haveSox = true;
try { requireProgram('sox'); } catch { haveSox = false; }
if (!haveSox && process.env.CI) throw new Error('CI must install sox for the local audio adapter tests');

describe('WAV file adapters', () => {
  it('reads a file as 20 ms frames, paced in real time by default, as fast as read with realtime: false', async () => {
    const path = join(dir, 'in.wav');
    writeFileSync(path, writeWav(ramp(8000), 16000)); // 0.5 s
    let t0 = performance.now();
    const fast = await collect(wavFileInput(path, { realtime: false }));
    expect(performance.now() - t0).toBeLessThan(200);
    expect(fast.length).toBe(25);
    expect(fast.every((f) => f.samples.length === 320)).toBe(true);
    t0 = performance.now();
    const paced = await collect(wavFileInput(path, { sampleRate: 8000 }));
    expect(performance.now() - t0).toBeGreaterThan(450);
    expect(paced[0]!.sampleRate).toBe(8000);
  });

  it('writes what was played, with the silence between replies, and drops cleared audio', async () => {
    const path = join(dir, 'out.wav');
    const out = wavFileOutput(path, { sampleRate: 16000 });
    await out.write({ samples: ramp(1600), sampleRate: 16000 }); // 100 ms
    await sleep(300);
    void out.write({ samples: ramp(16000), sampleRate: 16000 }); // 1 s, cut after ~100 ms
    await sleep(100);
    out.clear();
    await out.close();
    const wav = readWav(readFileSync(path));
    const seconds = wav.samples.length / 16000;
    // 100 ms, a 200 ms pause, then about 100 ms of the long reply before the clear
    expect(seconds).toBeGreaterThan(0.35);
    expect(seconds).toBeLessThan(0.5);
    expect(wav.samples.slice(2400, 4000).every((s) => s === 0)).toBe(true); // the pause
  });
});

describe('wavFileOutput on a testing clock', () => {
  it("places the audio by the clock's time, so the silence between replies is kept (it mixed wall and virtual time)", async () => {
    // A virtual clock that starts at 0: the wall clock (performance.now()) is always ahead of it.
    const clock = virtualClock({ startMs: 0 });
    const path = join(dir, 'virtual.wav');
    const out = wavFileOutput(path, { sampleRate: 16000, clock });
    await out.write({ samples: new Int16Array(1600).fill(1000), sampleRate: 16000 }); // 100 ms
    await clock.sleep(400); // played, then 300 ms of silence
    await out.write({ samples: new Int16Array(1600).fill(2000), sampleRate: 16000 }); // 100 ms
    await out.drain();
    await out.close();
    const wav = readWav(readFileSync(path));
    expect(wav.samples.length).toBe(8000); // 0.5 s: 100 ms, 300 ms of silence, 100 ms
    expect(wav.samples[0]).toBe(1000);
    expect(wav.samples.slice(1600, 6400).every((s) => s === 0)).toBe(true);
    expect(wav.samples[6400]).toBe(2000);
  });
});

describe('WAV file adapter options', () => {
  it('refuses a misspelled option, naming the nearest one, rather than ignoring it', () => {
    const path = join(dir, 'opts.wav');
    writeFileSync(path, writeWav(ramp(1600), 16000));
    expect(() => wavFileInput(path, { realTime: false } as never)).toThrow(new ConfigError('wavFileInput: unknown option `realTime`: did you mean `realtime`?'));
    expect(() => wavFileInput(path, { chanel: 0 } as never)).toThrow(/did you mean `channel`/);
    expect(() => wavFileOutput(join(dir, 'o.wav'), { keepSilences: false } as never)).toThrow(/did you mean `keepSilence`/);
    expect(() => wavFileInput(path, { realtime: false, channel: undefined })).not.toThrow();
  });
});

describe('Node stream adapters', () => {
  it('frames raw PCM from any Readable, mixing channels down and keeping odd bytes for later', async () => {
    const s = new PassThrough();
    const frames = collect(pcmInput(s, { sampleRate: 8000, channels: 2 }));
    const stereo = Buffer.alloc(8000 * 4 * 0.1);
    for (let i = 0; i < stereo.length / 4; i++) { stereo.writeInt16LE(1000, i * 4); stereo.writeInt16LE(3000, i * 4 + 2); }
    s.write(stereo.subarray(0, 101));
    s.end(stereo.subarray(101));
    const got = await frames;
    expect(got.reduce((n, f) => n + f.samples.length, 0)).toBe(800);
    expect(got[0]!.samples[0]).toBe(2000);
    await expect(collect(pcmInput(new PassThrough(), { sampleRate: 11025 }))).rejects.toBeInstanceOf(AudioFormatError);
  });

  it('names a missing or misspelled format option instead of an "unsupported sample rate undefined"', async () => {
    // Plain JavaScript gets no compiler check: these are what a typo looks like at run time.
    const misspelled = { samplerate: 16000 } as unknown as { sampleRate: number };
    await expect(collect(pcmInput(new PassThrough(), misspelled))).rejects.toThrow(new ConfigError('pcmInput: unknown option `samplerate`: did you mean `sampleRate`?'));
    await expect(collect(pcmInput(new PassThrough(), {} as { sampleRate: number }))).rejects.toThrow(/^pcmInput needs \{ sampleRate \}/);
    await expect(collect(pcmInput(new PassThrough(), undefined as unknown as { sampleRate: number }))).rejects.toThrow(/^pcmInput needs the stream's format/);
    expect(() => pcmOutput(new PassThrough(), { rate: 24000 } as unknown as { sampleRate: number })).toThrow(ConfigError);
  });

  it('writes PCM to any Writable with backpressure and refuses the wrong rate', async () => {
    const s = new PassThrough({ highWaterMark: 64 });
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    const out = pcmOutput(s, { sampleRate: 16000 });
    await out.write({ samples: ramp(320), sampleRate: 16000 });
    await expect(out.write({ samples: ramp(320), sampleRate: 8000 })).rejects.toBeInstanceOf(AudioFormatError);
    await out.close();
    expect(Buffer.concat(chunks).length).toBe(640);
    expect(out.writtenMs).toBe(20);
  });
});

describe.skipIf(!haveSox)('SoX mic and speaker', () => {
  it('records through sox (here from a file) and plays to a file', async () => {
    const src = join(dir, 'mic-src.wav');
    writeFileSync(src, writeWav(ramp(8000), 16000));
    // `command`/`args` let the test read a file where a user would read the microphone.
    const frames = await collect(soxMic({ command: 'sox', args: ['-q', src, '-t', 'raw', '-r', '16000', '-e', 'signed', '-b', '16', '-c', '1', '-'] }));
    expect(frames.reduce((n, f) => n + f.samples.length, 0)).toBe(8000);
    const dest = join(dir, 'speaker.wav');
    const speaker = soxSpeaker({ command: 'sox', args: ['-q', '-t', 'raw', '-r', '16000', '-e', 'signed', '-b', '16', '-c', '1', '-', dest] });
    for (const f of frames) await speaker.write(f);
    await speaker.close();
    const played = readWav(readFileSync(dest));
    expect(Array.from(played.samples.slice(0, 50))).toEqual(Array.from(ramp(50)));
    expect(execFileSync('soxi', ['-D', dest]).toString().trim()).toBe('0.500000');
  });

  it('names the missing program and how to install it', () => {
    expect(() => requireProgram('definitely-not-installed-recorder')).toThrow(ConfigError);
    expect(() => soxSpeaker({ command: 'no-such-player' })).toThrow(/apt-get install no-such-player/);
  });
});
