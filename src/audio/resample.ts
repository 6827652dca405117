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

/**
 * Streaming band-limited resampler for PCM16 mono audio. State is kept across calls, so a stream
 * cut into frames of any size resamples to the same samples as the whole stream at once (no clicks at
 * frame boundaries). Downsampling low-passes below the new Nyquist frequency first.
 */
export class Resampler {
  private readonly step: number;
  private readonly table: Float32Array;
  private readonly halfWidth: number;
  private readonly reach: number;
  private hist: Float32Array;
  private pos: number;
  private totalIn = 0;
  private totalOut = 0;
  /** An integer ratio (48 to 16 kHz...): the filter's weights, the same at every output sample. */
  private readonly fixed: { weights: Float64Array; from: number } | undefined;

  /**
   * A converter from one rate to another, keeping state across chunks.
   * @param inRate Sample rate of the input, in Hz.
   * @param outRate Sample rate of the output, in Hz.
   */
  constructor(readonly inRate: number, readonly outRate: number) {
    assertSampleRate(inRate, 'resampler input');
    assertSampleRate(outRate, 'resampler output');
    this.step = inRate / outRate;
    const k = kernelFor(Math.min(1, outRate / inRate) * 0.92);
    this.table = k.table;
    this.halfWidth = k.halfWidth;
    this.reach = Math.ceil(k.halfWidth);
    this.hist = new Float32Array(this.reach);
    this.pos = this.reach;
    if (Number.isInteger(this.step)) {
      // Output samples then fall on input samples, so each weight is a table entry: taken once here,
      // by the expression `run` uses, so the output is the same to the bit.
      const from = Math.floor(this.pos - this.halfWidth) + 1 - this.pos;
      const to = Math.floor(this.pos + this.halfWidth) - this.pos;
      const weights = new Float64Array(to - from + 1);
      for (let j = from; j <= to; j++) {
        const d = Math.abs(j) * TABLE_RES;
        const i = d | 0;
        weights[j - from] = this.table[i]! + (this.table[i + 1]! - this.table[i]!) * (d - i);
      }
      this.fixed = { weights, from };
    }
  }

  /** Resamples the next block of input. */
  process(samples: Int16Array): Int16Array {
    if (this.inRate === this.outRate) return samples;
    this.totalIn += samples.length;
    const buf = new Float32Array(this.hist.length + samples.length);
    buf.set(this.hist);
    for (let i = 0; i < samples.length; i++) buf[this.hist.length + i] = samples[i]!;
    return this.run(buf, Math.floor((this.totalIn * this.outRate) / this.inRate));
  }

  /** Emits the samples still held back by the filter's look-ahead. Call once, at the end. */
  flush(): Int16Array {
    if (this.inRate === this.outRate) return new Int16Array(0);
    const buf = new Float32Array(this.hist.length + this.reach + 1);
    buf.set(this.hist);
    return this.run(buf, Math.round((this.totalIn * this.outRate) / this.inRate));
  }

  private run(buf: Float32Array, limit: number): Int16Array {
    if (this.fixed) return this.runFixed(buf, limit, this.fixed.weights, this.fixed.from);
    const { table, halfWidth, reach, step } = this;
    const out: number[] = [];
    let pos = this.pos;
    while (Math.floor(pos) + reach < buf.length && this.totalOut + out.length < limit) {
      const first = Math.max(0, Math.floor(pos - halfWidth) + 1);
      const last = Math.min(buf.length - 1, Math.floor(pos + halfWidth));
      let sum = 0;
      let wsum = 0;
      for (let k = first; k <= last; k++) {
        const d = Math.abs(k - pos) * TABLE_RES;
        const i = d | 0;
        const w = table[i]! + (table[i + 1]! - table[i]!) * (d - i);
        sum += buf[k]! * w;
        wsum += w;
      }
      const v = Math.round(wsum !== 0 ? sum / wsum : 0);
      out.push(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
      pos += step;
    }
    this.totalOut += out.length;
    const drop = Math.max(0, Math.min(buf.length, Math.floor(pos - halfWidth)));
    this.hist = buf.slice(drop);
    this.pos = pos - drop;
    return Int16Array.from(out);
  }

  /** `run` for an integer ratio: one set of weights, no per-tap interpolation, no array of numbers. */
  private runFixed(buf: Float32Array, limit: number, weights: Float64Array, from: number): Int16Array {
    const { halfWidth, reach, step } = this;
    let pos = this.pos;
    let n = 0;
    while (pos + n * step + reach < buf.length && this.totalOut + n < limit) n++;
    const out = new Int16Array(n);
    const taps = weights.length;
    let whole = 0; // the weights' sum, added in the order `run` adds them
    for (let j = 0; j < taps; j++) whole += weights[j]!;
    for (let o = 0; o < n; o++, pos += step) {
      const base = pos + from;
      let sum = 0;
      let wsum = whole;
      if (base >= 0 && base + taps <= buf.length) {
        for (let j = 0; j < taps; j++) sum += buf[base + j]! * weights[j]!;
      } else {
        // Clamped as in `run` (not reached inside a stream: the window is always whole).
        wsum = 0;
        for (let k = Math.max(0, base); k <= Math.min(buf.length - 1, base + taps - 1); k++) {
          sum += buf[k]! * weights[k - base]!;
          wsum += weights[k - base]!;
        }
      }
      const v = Math.round(wsum !== 0 ? sum / wsum : 0);
      out[o] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    this.totalOut += n;
    const drop = Math.max(0, Math.min(buf.length, Math.floor(pos - halfWidth)));
    this.hist = buf.slice(drop);
    this.pos = pos - drop;
    return out;
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
