import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { type AudioFrame, FrameSplitter, SUPPORTED_RATES } from '../audio/frame';
import { AudioFormatError, ConfigError } from '../errors';
import { resample } from '../audio/resample';
import { readWav, writeWav } from '../audio/wav';
import { sleep } from '../streams/channel';
import { type PlayedSegment, VirtualSpeaker, type VirtualSpeakerOptions } from './playback';

/** Options of {@link wavFileInput}. */
export interface WavInputOptions {
  /** Deliver 20 ms frames on the clock, as a microphone does (default false: as fast as read). */
  realtime?: boolean | undefined;
  /** Frame duration (default 20 ms). */
  frameMs?: number | undefined;
  /** Resample to this rate (default: the file's). */
  sampleRate?: number | undefined;
  /** Stops delivery. */
  signal?: AbortSignal | undefined;
}

/**
 * Audio from a WAV file (16-bit PCM; stereo is mixed down to mono, as `pcmInput` does), cut into
 * frames, optionally paced in real time. The file is read and checked at the call, so a missing
 * file or one voxline cannot use fails there, naming the file.
 * @throws ConfigError when the file cannot be read, or its rate (or `sampleRate`) is not one of
 * {@link SUPPORTED_RATES}.
 * @throws AudioFormatError when it is not 16-bit PCM WAV.
 */
export function wavFileInput(path: string, options: WavInputOptions = {}): AsyncGenerator<AudioFrame> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`wavFileInput: cannot read ${path}${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`, { cause: err });
  }
  let wav: ReturnType<typeof readWav>;
  try {
    wav = readWav(bytes, { allowStereo: true });
  } catch (err) {
    throw err instanceof AudioFormatError ? new AudioFormatError(`${path}: ${err.message}`, { cause: err }) : err;
  }
  const supported = (r: number) => (SUPPORTED_RATES as readonly number[]).includes(r);
  const rates = `supported: ${SUPPORTED_RATES.join(', ')}`;
  if (!supported(wav.sampleRate)) throw new ConfigError(`wavFileInput: ${path} is at ${wav.sampleRate} Hz, which voxline cannot take (${rates}); convert it, e.g. \`sox in.wav -r 16000 out.wav\``);
  const rate = options.sampleRate ?? wav.sampleRate;
  if (!supported(rate)) throw new ConfigError(`wavFileInput: sampleRate ${rate} Hz is not a rate voxline takes (${rates})`);
  const mono = wav.channels === 1 ? wav.samples : mixDown(wav.samples, wav.channels);
  return frames(resample(mono, wav.sampleRate, rate), rate, options);
}

/** Interleaved multi-channel PCM16 averaged into one channel. */
function mixDown(samples: Int16Array, channels: number): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c]!;
    out[i] = Math.round(sum / channels);
  }
  return out;
}

async function* frames(samples: Int16Array, rate: number, options: WavInputOptions): AsyncGenerator<AudioFrame> {
  const splitter = new FrameSplitter(rate, options.frameMs ?? 20);
  const all = [...splitter.push(samples), ...splitter.flush()];
  const start = performance.now();
  let at = 0;
  for (const frame of all) {
    if (options.signal?.aborted) return;
    if (options.realtime) {
      at += (frame.samples.length * 1000) / rate;
      const wait = start + at - performance.now();
      if (wait > 1) await sleep(wait);
    }
    yield frame;
  }
}

/** Lays played segments on one timeline starting at `origin` (silence where nothing played). */
export function renderTimeline(segments: readonly PlayedSegment[], origin: number, sampleRate: number, segmentRate = sampleRate): Int16Array {
  let length = 0;
  const placed = segments.map((s) => {
    const samples = segmentRate === sampleRate ? s.samples : resample(s.samples, segmentRate, sampleRate);
    const offset = Math.max(0, Math.round(((s.startAt - origin) * sampleRate) / 1000));
    length = Math.max(length, offset + samples.length);
    return { offset, samples };
  });
  const out = new Int16Array(length);
  for (const p of placed) out.set(p.samples, p.offset);
  return out;
}

/** Options of {@link wavFileOutput}. */
export interface WavOutputOptions extends Omit<VirtualSpeakerOptions, 'record'> {
  /** Keep the silence between replies, so the file follows the conversation's timing (default true). */
  keepSilence?: boolean | undefined;
}

/** An output that plays in real time and writes what was played to a WAV file on `close()`. */
export class WavFileOutput extends VirtualSpeaker {
  private readonly origin = performance.now();

  /**
   * Checks the options; the file is written on `close()`.
   * @param path Where the WAV file is written.
   * @param wavOptions Rate, and whether silences are kept.
   */
  constructor(readonly path: string, private readonly wavOptions: WavOutputOptions = {}) {
    super({ ...wavOptions, record: true });
  }

  /** The audio as played so far. */
  render(): Int16Array {
    const segs = this.clock.segments;
    if (this.wavOptions.keepSilence ?? true) return renderTimeline(segs, this.origin, this.sampleRate);
    const total = segs.reduce((n, s) => n + s.samples.length, 0);
    const out = new Int16Array(total);
    let o = 0;
    for (const s of segs) {
      out.set(s.samples, o);
      o += s.samples.length;
    }
    return out;
  }

  override async close(): Promise<void> {
    await super.close();
    await writeFile(this.path, writeWav(this.render(), this.sampleRate));
  }
}

/** Plays into a WAV file (see {@link WavFileOutput}). */
export function wavFileOutput(path: string, options?: WavOutputOptions): WavFileOutput {
  return new WavFileOutput(path, options);
}
