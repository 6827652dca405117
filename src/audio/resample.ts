import { AudioFormatError } from '../errors';
import { type AudioFrame, assertSampleRate } from './frame';

const ZERO_CROSSINGS = 12;
const TABLE_RES = 128;
const kernels = new Map<string, { table: Float32Array; halfWidth: number }>();

/** Windowed-sinc low-pass kernel for a given cutoff (in units of the input Nyquist), tabulated. */
function kernelFor(cutoff: number): { table: Float32Array; halfWidth: number } {
  const key = cutoff.toFixed(6);
  let k = kernels.get(key);
  if (!k) {
    const halfWidth = ZERO_CROSSINGS / cutoff;
    const n = Math.ceil(halfWidth * TABLE_RES) + 2;
    const table = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = i / TABLE_RES;
      if (x >= halfWidth) break;
      const arg = Math.PI * cutoff * x;
      const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
      const t = x / halfWidth; // Blackman window over [-halfWidth, halfWidth]
      const w = 0.42 + 0.5 * Math.cos(Math.PI * t) + 0.08 * Math.cos(2 * Math.PI * t);
      table[i] = cutoff * sinc * w;
    }
    k = { table, halfWidth };
    kernels.set(key, k);
  }
  return k;
}

/** Greatest common divisor of two positive integers. */
function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The filter of a rate pair as a polyphase bank: output positions fall on `q` fractional phases
 * of the input grid (the rates' ratio in lowest terms is p/q), so each phase's taps are computed
 * once, normalised, and each output sample is one dot product.
 */
interface Bank {
  /** Input samples advanced per output sample: whole part, and the fraction's numerator over `q`. */
  p: number;
  q: number;
  /** Per phase: the first tap's offset from the position's whole sample, and the tap weights. */
  lo: Int32Array;
  weights: Float64Array[];
  reach: number;
}
const banks = new Map<string, Bank>();

function bankFor(inRate: number, outRate: number): Bank {
  const key = `${inRate}:${outRate}`;
  let b = banks.get(key);
  if (b) return b;
  const { table, halfWidth } = kernelFor(Math.min(1, outRate / inRate) * 0.92);
  const g = gcd(inRate, outRate);
  const p = inRate / g;
  const q = outRate / g;
  const lo = new Int32Array(q);
  const weights: Float64Array[] = [];
  for (let j = 0; j < q; j++) {
    const f = j / q;
    const first = Math.floor(f - halfWidth) + 1;
    const last = Math.floor(f + halfWidth);
    const w = new Float64Array(last - first + 1);
    let sum = 0;
    for (let k = first; k <= last; k++) {
      const d = Math.abs(k - f) * TABLE_RES;
      const i = d | 0;
      const v = table[i]! + (table[i + 1]! - table[i]!) * (d - i);
      w[k - first] = v;
      sum += v;
    }
    if (sum !== 0) for (let k = 0; k < w.length; k++) w[k]! /= sum;
    lo[j] = first;
    weights.push(w);
  }
  b = { p, q, lo, weights, reach: Math.ceil(halfWidth) };
  banks.set(key, b);
  return b;
}

/**
 * Streaming band-limited resampler for PCM16 mono audio. State is kept across calls, so a stream
 * cut into frames of any size resamples to the same samples as the whole stream at once (no clicks at
 * frame boundaries). Downsampling low-passes below the new Nyquist frequency first. The
 * windowed-sinc filter runs as a polyphase bank: positions are exact fractions, each output
 * sample one dot product of precomputed weights.
 */
export class Resampler {
  private readonly bank: Bank;
  private hist: Float32Array;
  /** The next output's position in `hist`: whole sample `ip` plus `ph`/q. */
  private ip: number;
  private ph = 0;
  private totalIn = 0;
  private totalOut = 0;

  /**
   * A converter from one rate to another, keeping state across chunks.
   * @param inRate Sample rate of the input, in Hz.
   * @param outRate Sample rate of the output, in Hz.
   */
  constructor(readonly inRate: number, readonly outRate: number) {
    assertSampleRate(inRate, 'resampler input');
    assertSampleRate(outRate, 'resampler output');
    this.bank = bankFor(inRate, outRate);
    this.hist = new Float32Array(this.bank.reach);
    this.ip = this.bank.reach;
  }

  /** Resamples the next block of input. */
  process(samples: Int16Array): Int16Array {
    if (this.inRate === this.outRate) return samples;
    this.totalIn += samples.length;
    const buf = new Float32Array(this.hist.length + samples.length);
    buf.set(this.hist);
    buf.set(samples, this.hist.length);
    return this.run(buf, Math.floor((this.totalIn * this.outRate) / this.inRate));
  }

  /** Emits the samples still held back by the filter's look-ahead. Call once, at the end. */
  flush(): Int16Array {
    if (this.inRate === this.outRate) return new Int16Array(0);
    const buf = new Float32Array(this.hist.length + this.bank.reach + 1);
    buf.set(this.hist);
    return this.run(buf, Math.round((this.totalIn * this.outRate) / this.inRate));
  }

  private run(buf: Float32Array, limit: number): Int16Array {
    const { p, q, lo, weights, reach } = this.bank;
    const whole = Math.floor(p / q);
    const frac = p % q;
    const out = new Int16Array(Math.max(0, limit - this.totalOut));
    let n = 0;
    let ip = this.ip;
    let ph = this.ph;
    while (ip + reach < buf.length && n < out.length) {
      const w = weights[ph]!;
      const first = ip + lo[ph]!;
      let sum = 0;
      for (let k = 0; k < w.length; k++) sum += buf[first + k]! * w[k]!;
      const v = Math.round(sum);
      out[n++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      ip += whole;
      ph += frac;
      if (ph >= q) {
        ph -= q;
        ip++;
      }
    }
    this.totalOut += n;
    const drop = Math.max(0, Math.min(buf.length, ip - reach));
    this.hist = buf.slice(drop);
    this.ip = ip - drop;
    this.ph = ph;
    return n === out.length ? out : out.slice(0, n);
  }
}

/** Resamples a whole buffer in one go. */
export function resample(samples: Int16Array, inRate: number, outRate: number): Int16Array {
  if (inRate === outRate) return samples;
  const r = new Resampler(inRate, outRate);
  const a = r.process(samples);
  const b = r.flush();
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Brings frames of one input rate to `outRate`, keeping filter state across frames; frames
 * already at `outRate` pass through as they are. Synchronous, for per-frame hot paths.
 */
export class RateAdapter {
  private inRate?: number;
  private r?: Resampler;

  constructor(readonly outRate: number) {}

  /**
   * The frame's samples at `outRate` (the same array when no resampling is needed).
   * @throws AudioFormatError if the input rate changes mid-stream.
   */
  process(frame: AudioFrame): Int16Array {
    this.inRate ??= frame.sampleRate;
    if (frame.sampleRate !== this.inRate) throw new AudioFormatError(`sample rate changed mid-stream from ${this.inRate} to ${frame.sampleRate} Hz`);
    if (this.inRate === this.outRate) return frame.samples;
    this.r ??= new Resampler(this.inRate, this.outRate);
    return this.r.process(frame.samples);
  }

  /** The resampler's remaining samples at the end of the stream (none when it passed frames through). */
  flush(): Int16Array {
    return this.r?.flush() ?? new Int16Array(0);
  }
}

/**
 * Resamples a stream of frames to `outRate`, keeping filter state across frames.
 * @throws AudioFormatError if the input rate changes mid-stream.
 */
export async function* resampleStream(input: AsyncIterable<AudioFrame>, outRate: number): AsyncGenerator<AudioFrame> {
  const rate = new RateAdapter(outRate);
  for await (const frame of input) {
    const samples = rate.process(frame);
    if (samples === frame.samples) yield frame;
    else if (samples.length) yield { samples, sampleRate: outRate };
  }
  const tail = rate.flush();
  if (tail.length) yield { samples: tail, sampleRate: outRate };
}
