import { describe, expect, it } from 'vitest';
import { AudioFormatError, ConfigError, EnergyVad, FrameSplitter, decodeMulaw, encodeMulaw, floatToInt16, frameFromBytes, frameToBytes, int16ToFloat, readWav, splitFrames, writeWav } from '../../src/index';
import { linearToMulaw, mulawToLinear } from '../../src/audio/mulaw';

describe('G.711 mu-law', () => {
  it('matches the reference decoding values', () => {
    // ITU-T G.711 / Sun g711.c reference: 0x00 -> -32124, 0x0F -> -16764... 0x7F -> 0, 0x80 -> 32124, 0xFF -> 0.
    expect(mulawToLinear(0x00)).toBe(-32124);
    expect(mulawToLinear(0x80)).toBe(32124);
    expect(mulawToLinear(0x7f)).toBe(0);
    expect(mulawToLinear(0xff)).toBe(0);
    expect(mulawToLinear(0x0f)).toBe(-16764);
    expect(mulawToLinear(0x70)).toBe(-120);
    expect(mulawToLinear(0xf0)).toBe(120);
    expect(mulawToLinear(0x7e)).toBe(-8);
  });
  it('matches the reference encoding values', () => {
    expect(linearToMulaw(0)).toBe(0xff);
    expect(linearToMulaw(-1)).toBe(0x7f);
    expect(linearToMulaw(32767)).toBe(0x80);
    expect(linearToMulaw(-32768)).toBe(0x00);
    expect(linearToMulaw(120)).toBe(0xf0);
    expect(linearToMulaw(-16764)).toBe(0x0f);
  });
  it('round-trips every code and keeps error within the segment step', () => {
    for (let b = 0; b < 256; b++) {
      const v = mulawToLinear(b);
      // 0x7F and 0xFF both decode to 0 (negative and positive zero).
      expect(mulawToLinear(linearToMulaw(v))).toBe(v);
    }
    const x = new Int16Array([1000, -1000, 20000, -20000, 5]);
    const y = decodeMulaw(encodeMulaw(x));
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) / 16 + 8);
  });
});

describe('WAV', () => {
  it('round-trips PCM16 mono', () => {
    const s = new Int16Array([0, 1, -1, 32767, -32768]);
    const w = readWav(writeWav(s, 16000));
    expect(w.sampleRate).toBe(16000);
    expect(Array.from(w.samples)).toEqual(Array.from(s));
  });
  const base = () => writeWav(new Int16Array(100), 16000);
  it.each([
    ['stereo', (b: Buffer) => b.writeUInt16LE(2, 22), /mono/],
    ['8-bit', (b: Buffer) => b.writeUInt16LE(8, 34), /16-bit/],
    ['float', (b: Buffer) => b.writeUInt16LE(3, 20), /float/],
    ['lying data size', (b: Buffer) => b.writeUInt32LE(100000, 40), /claims/],
    ['odd data size', (b: Buffer) => b.writeUInt32LE(199, 40), /whole number/],
    ['not RIFF', (b: Buffer) => b.write('RIFX', 0), /RIFF/],
  ])('refuses %s with AudioFormatError', (_n, mutate, msg) => {
    const b = base();
    mutate(b);
    expect(() => readWav(b)).toThrow(AudioFormatError);
    expect(() => readWav(b)).toThrow(msg);
  });
  it('given a path instead of bytes (a JavaScript caller), says what to pass', () => {
    expect(() => readWav('/tmp/hello.wav' as unknown as Uint8Array)).toThrow(new ConfigError("readWav takes the file's bytes (readFileSync(path)), not a path; wavFileInput(path) from voxline/adapters reads a file"));
  });
  it('refuses a truncated header', () => {
    expect(() => readWav(base().subarray(0, 20))).toThrow(AudioFormatError);
    expect(() => readWav(base().subarray(0, 6))).toThrow(/truncated/);
  });
});

describe('frames', () => {
  it('converts bytes, floats and back', () => {
    const f = frameFromBytes(new Uint8Array([1, 0, 255, 255]), 8000);
    expect(Array.from(f.samples)).toEqual([1, -1]);
    expect(Array.from(frameToBytes(f))).toEqual([1, 0, 255, 255]);
    const odd = new Uint8Array(5).subarray(1); // unaligned view
    expect(frameFromBytes(odd, 8000).samples.length).toBe(2);
    expect(() => frameFromBytes(new Uint8Array(3), 8000)).toThrow(AudioFormatError);
    expect(Array.from(floatToInt16(new Float32Array([0, 1, -1, 2, -2])))).toEqual([0, 32767, -32768, 32767, -32768]);
    expect(int16ToFloat(new Int16Array([-32768, 16384]))[1]).toBeCloseTo(0.5);
  });
  it('splits any lengths into exact 20 ms frames and keeps every sample', async () => {
    const sp = new FrameSplitter(16000, 20);
    const all: number[] = [];
    let n = 0;
    for (const len of [1, 319, 320, 641, 7]) {
      const chunk = Int16Array.from({ length: len }, () => n++);
      for (const f of sp.push(chunk)) { expect(f.samples.length).toBe(320); all.push(...f.samples); }
    }
    for (const f of sp.flush()) all.push(...f.samples);
    expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
    async function* src() { yield { samples: new Int16Array(500), sampleRate: 8000 }; yield { samples: new Int16Array(500), sampleRate: 8000 }; }
    const sizes: number[] = [];
    for await (const f of splitFrames(src(), 20)) sizes.push(f.samples.length);
    expect(sizes).toEqual([160, 160, 160, 160, 160, 160, 40]);
  });
});

describe('EnergyVad', () => {
  it('marks speech start and end in clean audio', () => {
    const rate = 16000;
    const audio = new Int16Array(rate * 2);
    for (let i = Math.round(rate * 0.5); i < rate * 1.2; i++) audio[i] = Math.round(8000 * Math.sin((2 * Math.PI * 200 * i) / rate));
    const vad = new EnergyVad();
    const events = [];
    for (let i = 0; i < audio.length; i += 320) events.push(...vad.process({ samples: audio.subarray(i, i + 320), sampleRate: rate }));
    expect(events.map((e) => e.type)).toEqual(['speech_start', 'speech_end']);
    expect(events[0]!.timeMs).toBeCloseTo(500, -1);
    expect(events[1]!.timeMs).toBeCloseTo(1200, -1);
  });
  it('ignores a click shorter than the minimum speech duration', () => {
    const vad = new EnergyVad();
    const audio = new Int16Array(16000);
    for (let i = 1000; i < 1300; i++) audio[i] = 20000;
    expect(vad.process({ samples: audio, sampleRate: 16000 })).toEqual([]);
  });
});
