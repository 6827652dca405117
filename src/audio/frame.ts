import { AudioFormatError } from '../errors';

/** Sample rates voxline supports end to end. */
export const SUPPORTED_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;

/** One block of 16-bit mono PCM audio. */
export interface AudioFrame {
  /** Signed 16-bit samples, mono. */
  samples: Int16Array;
  /** Samples per second. */
  sampleRate: number;
}

/** Throws {@link AudioFormatError} unless `rate` is one of {@link SUPPORTED_RATES}. */
export function assertSampleRate(rate: number, what = 'audio'): void {
  if (!(SUPPORTED_RATES as readonly number[]).includes(rate)) {
    throw new AudioFormatError(`${what}: unsupported sample rate ${rate} Hz (supported: ${SUPPORTED_RATES.join(', ')})`);
  }
}

/** Duration of a frame in milliseconds. */
export function frameDurationMs(frame: AudioFrame): number {
  return (frame.samples.length * 1000) / frame.sampleRate;
}

/**
 * Wraps little-endian PCM16 bytes as a frame. Copies when the bytes are not 2-byte aligned.
 * @throws AudioFormatError when the byte length is odd.
 */
export function frameFromBytes(bytes: Uint8Array, sampleRate: number): AudioFrame {
  if (bytes.byteLength % 2 !== 0) throw new AudioFormatError(`PCM16 data must have an even byte length, got ${bytes.byteLength}`);
  if (bytes.byteOffset % 2 === 0) {
    return { samples: new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), sampleRate };
  }
  const copy = new Uint8Array(bytes);
  return { samples: new Int16Array(copy.buffer), sampleRate };
}

/** The frame's samples as little-endian PCM16 bytes (a view, not a copy). */
export function frameToBytes(frame: AudioFrame): Buffer {
  return Buffer.from(frame.samples.buffer, frame.samples.byteOffset, frame.samples.byteLength);
}

/** Converts float samples in [-1, 1] to PCM16, clipping out-of-range values. */
export function floatToInt16(input: Float32Array): Int16Array {
  const out = new Int16Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const v = input[i]!;
    const c = v > 1 ? 1 : v < -1 ? -1 : v;
    out[i] = c < 0 ? Math.round(c * 32768) : Math.round(c * 32767);
  }
  return out;
}

/** Converts PCM16 samples to floats in [-1, 1]. */
export function int16ToFloat(input: Int16Array): Float32Array {
  const out = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) out[i] = input[i]! / 32768;
  return out;
}

/** A frame of silence of the given duration. */
export function silence(durationMs: number, sampleRate: number): AudioFrame {
  return { samples: new Int16Array(Math.round((durationMs * sampleRate) / 1000)), sampleRate };
}

/**
 * Re-cuts audio of arbitrary lengths into frames of exactly `durationMs` (the last one may be
 * shorter when {@link FrameSplitter.flush} is called).
 */
export class FrameSplitter {
  private readonly size: number;
  private pending: Int16Array;
  private fill = 0;

  /**
   * Starts empty.
   * @param sampleRate Sample rate of the audio, in Hz.
   * @param durationMs Length of each frame, in milliseconds.
   */
  constructor(readonly sampleRate: number, readonly durationMs = 20) {
    if (!(durationMs > 0)) throw new AudioFormatError(`frame duration must be positive, got ${durationMs}`);
    this.size = Math.max(1, Math.round((sampleRate * durationMs) / 1000));
    this.pending = new Int16Array(this.size);
  }

  /** Adds samples and returns every complete frame. */
  push(samples: Int16Array): AudioFrame[] {
    const out: AudioFrame[] = [];
    let i = 0;
    while (i < samples.length) {
      const n = Math.min(this.size - this.fill, samples.length - i);
      this.pending.set(samples.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === this.size) {
        out.push({ samples: this.pending, sampleRate: this.sampleRate });
        this.pending = new Int16Array(this.size);
        this.fill = 0;
      }
    }
    return out;
  }

  /** Returns what is left as a short frame, or nothing. */
  flush(): AudioFrame[] {
    if (this.fill === 0) return [];
    const last = { samples: this.pending.slice(0, this.fill), sampleRate: this.sampleRate };
    this.fill = 0;
    return [last];
  }
}

/** Re-cuts a stream of frames into fixed-duration frames. All input frames must share one rate. */
export async function* splitFrames(input: AsyncIterable<AudioFrame>, durationMs = 20): AsyncGenerator<AudioFrame> {
  let splitter: FrameSplitter | undefined;
  for await (const frame of input) {
    splitter ??= new FrameSplitter(frame.sampleRate, durationMs);
    if (frame.sampleRate !== splitter.sampleRate) {
      throw new AudioFormatError(`sample rate changed mid-stream from ${splitter.sampleRate} to ${frame.sampleRate} Hz`);
    }
    yield* splitter.push(frame.samples);
  }
  if (splitter) yield* splitter.flush();
}

/** Root-mean-square level of samples, in [0, 1]. */
export function rms(samples: Int16Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]! / 32768;
    sum += v * v;
  }
  return Math.sqrt(sum / samples.length);
}
