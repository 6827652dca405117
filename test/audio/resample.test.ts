import { describe, expect, it } from 'vitest';
import { Resampler, resample, resampleStream, SUPPORTED_RATES, AudioFormatError } from '../../src/index';

function sine(freq: number, rate: number, seconds: number, amp = 0.5): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amp * 32767 * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

/** Amplitude of `freq` in `x` by correlation (Goertzel-like), skipping the edges. */
function toneAmplitude(x: Int16Array, freq: number, rate: number): number {
  const skip = Math.floor(x.length * 0.1);
  let re = 0, im = 0, n = 0;
  for (let i = skip; i < x.length - skip; i++) {
    re += x[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
    n++;
  }
  return (2 * Math.hypot(re, im)) / n / 32767;
}

describe('Resampler', () => {
  const pairs: [number, number][] = [];
  for (const a of SUPPORTED_RATES) for (const b of SUPPORTED_RATES) if (a !== b) pairs.push([a, b]);

  it.each(pairs)('%i -> %i keeps a 440 Hz sine at its frequency and amplitude', (a, b) => {
    const out = resample(sine(440, a, 0.5), a, b);
    expect(Math.abs(out.length - 0.5 * b)).toBeLessThanOrEqual(1);
    expect(toneAmplitude(out, 440, b)).toBeCloseTo(0.5, 1);
    // Energy is at 440 Hz, not at a shifted frequency.
    expect(toneAmplitude(out, 470, b)).toBeLessThan(0.02);
  });

  it('attenuates a tone above the new Nyquist frequency when downsampling', () => {
    // 6 kHz is representable at 48 kHz but above 4 kHz (Nyquist of 8 kHz): it must not alias to 2 kHz.
    const out = resample(sine(6000, 48000, 0.5), 48000, 8000);
    expect(toneAmplitude(out, 2000, 8000)).toBeLessThan(0.01);
    const out16b = resample(sine(9000, 48000, 0.5), 48000, 16000);
    expect(toneAmplitude(out16b, 7000, 16000)).toBeLessThan(0.01);
  });

  it('gives the same samples whether fed whole or in odd-sized frames (no boundary clicks)', () => {
    const input = sine(1000, 44100, 0.3);
    const whole = resample(input, 44100, 16000);
    const r = new Resampler(44100, 16000);
    const parts: number[] = [];
    for (let i = 0; i < input.length; ) {
      const n = 1 + ((i * 7919) % 613);
      parts.push(...r.process(input.subarray(i, i + n)));
      i += n;
    }
    parts.push(...r.flush());
    expect(parts.length).toBe(whole.length);
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i]! - parts[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('streams frames and refuses unsupported rates and rate changes', async () => {
    async function* frames() {
      yield { samples: sine(300, 16000, 0.02), sampleRate: 16000 };
      yield { samples: sine(300, 16000, 0.02), sampleRate: 16000 };
    }
    let total = 0;
    for await (const f of resampleStream(frames(), 24000)) total += f.samples.length;
    expect(total).toBe(960);
    expect(() => new Resampler(11025, 16000)).toThrow(AudioFormatError);
    async function* mixed() {
      yield { samples: new Int16Array(320), sampleRate: 16000 };
      yield { samples: new Int16Array(480), sampleRate: 24000 };
    }
    await expect(async () => { for await (const _ of resampleStream(mixed(), 8000)) void _; }).rejects.toThrow(AudioFormatError);
  });
});
