import { readFile, writeFile } from 'node:fs/promises';
import { type AudioFrame, FrameSplitter } from '../audio/frame';
import { resample } from '../audio/resample';
import { readWav, writeWav } from '../audio/wav';
import { sleep } from '../streams/channel';
import { type PlayedSegment, VirtualSpeaker, type VirtualSpeakerOptions } from './playback';

/** Options of {@link wavFileInput}. */
export interface WavInputOptions {
  /** Deliver 20 ms frames on the clock, as a microphone does (default false: as fast as read). */
  realtime?: boolean;
  /** Frame duration (default 20 ms). */
  frameMs?: number;
  /** Resample to this rate (default: the file's). */
  sampleRate?: number;
  /** Stops delivery. */
  signal?: AbortSignal;
}

/**
 * Audio from a WAV file (PCM16 mono), cut into frames, optionally paced in real time.
 * @throws AudioFormatError for anything but PCM16 mono.
 */
export async function* wavFileInput(path: string, options: WavInputOptions = {}): AsyncGenerator<AudioFrame> {
  const wav = readWav(await readFile(path));
  const rate = options.sampleRate ?? wav.sampleRate;
  const samples = resample(wav.samples, wav.sampleRate, rate);
  const splitter = new FrameSplitter(rate, options.frameMs ?? 20);
  const frames = [...splitter.push(samples), ...splitter.flush()];
  const start = performance.now();
  let at = 0;
  for (const frame of frames) {
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
  keepSilence?: boolean;
}

/** An output that plays in real time and writes what was played to a WAV file on `close()`. */
export class WavFileOutput extends VirtualSpeaker {
  private readonly origin = performance.now();

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
