import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { type AudioFrame, FrameSplitter, SUPPORTED_RATES } from '../audio/frame';
import { AudioFormatError, ConfigError } from '../errors';
import { checkOptionNames } from '../provider';
import { resample } from '../audio/resample';
import { readWav, writeWav } from '../audio/wav';
import { type Clock, realClock } from '../streams/clock';
import { type PlayedSegment, VirtualSpeaker, type VirtualSpeakerOptions } from './playback';

/** Options of {@link wavFileInput}. */
export interface WavInputOptions {
  /**
   * Deliver the frames on the clock, as a microphone does (default true). `false` delivers them as
   * fast as they are read, for a stage used on its own (`stt.transcribe(...)`); a `VoiceSession`
   * holds such an input back to real time (see its `run()`).
   */
  realtime?: boolean | undefined;
  /** The clock the frames are paced on (default: the wall clock): a testing clock runs a file faster than real time. */
  clock?: Clock | undefined;
  /** Frame duration (default 20 ms). */
  frameMs?: number | undefined;
  /** Resample to this rate (default: the file's). */
  sampleRate?: number | undefined;
  /**
   * Which channel of a file with several to hear: its index (0 for the left), or `'mix'` to
   * average them. Required for such a file: a call recorded in stereo holds both parties, and
   * averaging them would feed the agent its own voice.
   */
  channel?: number | 'mix' | undefined;
  /** Stops delivery. */
  signal?: AbortSignal | undefined;
}

const WAV_INPUT_NAMES = { realtime: true, clock: true, frameMs: true, sampleRate: true, channel: true, signal: true } as const;
const WAV_OUTPUT_NAMES = { sampleRate: true, bufferMs: true, clock: true, keepSilence: true } as const;

/**
 * Audio from a WAV file (16-bit PCM), cut into frames and paced in real time, as a microphone
 * delivers it. The file is read and checked at the call, so a missing file or one voxline cannot
 * use fails there, naming the file.
 * @throws ConfigError when the file cannot be read, `channel` is not one of its channels, or an option's name is unknown (a typo).
 * @throws AudioFormatError when it is not 16-bit PCM WAV, when its rate (or `sampleRate`) is not
 * one of {@link SUPPORTED_RATES}, or when it has several channels and `channel` does not say which
 * to hear.
 */
export function wavFileInput(path: string, options: WavInputOptions = {}): AsyncGenerator<AudioFrame> {
  checkOptionNames('wavFileInput', options, WAV_INPUT_NAMES);
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
  if (!supported(wav.sampleRate)) throw new AudioFormatError(`wavFileInput: ${path} is at ${wav.sampleRate} Hz, which voxline cannot take (${rates}); convert it, e.g. \`sox in.wav -r 16000 out.wav\``);
  const rate = options.sampleRate ?? wav.sampleRate;
  if (!supported(rate)) throw new AudioFormatError(`wavFileInput: sampleRate ${rate} Hz is not a rate voxline takes (${rates})`);
  const { channel } = options;
  if (channel !== undefined && channel !== 'mix' && !(Number.isInteger(channel) && channel >= 0 && channel < wav.channels)) {
    throw new ConfigError(`wavFileInput: channel must be 'mix' or a channel of ${path} (0 to ${wav.channels - 1}), not ${String(channel)}`);
  }
  if (wav.channels > 1 && channel === undefined) {
    throw new AudioFormatError(`wavFileInput: ${path} has ${wav.channels} channels: pass { channel: 0 } (or another index) to hear one, or { channel: 'mix' } to average them (a call recorded in stereo holds both parties)`);
  }
  const mono = wav.channels === 1 ? wav.samples : channel === 'mix' ? mixDown(wav.samples, wav.channels) : pick(wav.samples, wav.channels, channel as number);
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

/** One channel of interleaved multi-channel PCM16. */
function pick(samples: Int16Array, channels: number, channel: number): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) out[i] = samples[i * channels + channel]!;
  return out;
}

async function* frames(samples: Int16Array, rate: number, options: WavInputOptions): AsyncGenerator<AudioFrame> {
  const splitter = new FrameSplitter(rate, options.frameMs ?? 20);
  const all = [...splitter.push(samples), ...splitter.flush()];
  const clock = options.clock ?? realClock;
  const start = clock.now();
  let at = 0;
  for (const frame of all) {
    if (options.signal?.aborted) return;
    // Each frame is delivered once its audio has been "spoken": at the end of its duration.
    at += (frame.samples.length * 1000) / rate;
    if (options.realtime ?? true) {
      const wait = start + at - clock.now();
      if (wait > 1) await clock.sleep(wait, options.signal).catch(() => {});
      if (options.signal?.aborted) return;
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
  /** When the file starts, on the clock playback runs on (segments are timed on it, not the wall clock). */
  private readonly origin: number;

  /**
   * Checks the options; the file is written on `close()`.
   * @param path Where the WAV file is written.
   * @param wavOptions Rate, and whether silences are kept.
   */
  constructor(readonly path: string, private readonly wavOptions: WavOutputOptions = {}) {
    checkOptionNames('wavFileOutput', wavOptions, WAV_OUTPUT_NAMES);
    super({ ...wavOptions, record: true });
    this.origin = this.clock.time.now();
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
