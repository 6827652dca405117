import type { Readable, Writable } from 'node:stream';
import { type AudioFrame, FrameSplitter, assertSampleRate, frameToBytes } from '../audio/frame';
import { AudioFormatError, ConfigError } from '../errors';
import { checkOptionNames } from '../provider';
import { PlaybackClock } from './playback';
import type { AudioOutput } from './types';

/** The format of raw PCM on a Node stream. */
export interface PcmFormat {
  /** Samples per second. */
  sampleRate: number;
  /** Channels interleaved in the stream (default 1; more are mixed down to mono). */
  channels?: number | undefined;
  /** Frame duration for input (default 20 ms). */
  frameMs?: number | undefined;
}

/** Frames from raw little-endian PCM16 on any `Readable` (a socket, a child process, a file). */
export async function* pcmInput(stream: Readable, format: PcmFormat): AsyncGenerator<AudioFrame> {
  checkPcmFormat('pcmInput', format);
  const channels = format.channels ?? 1;
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new AudioFormatError(`pcmInput: unsupported channel count ${channels}`);
  const splitter = new FrameSplitter(format.sampleRate, format.frameMs ?? 20);
  const bytesPerFrame = 2 * channels;
  let carry = Buffer.alloc(0);
  for await (const chunk of stream) {
    const buf: Buffer = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const usable = buf.length - (buf.length % bytesPerFrame);
    carry = Buffer.from(buf.subarray(usable));
    const n = usable / bytesPerFrame;
    const mono = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += buf.readInt16LE((i * channels + c) * 2);
      mono[i] = Math.round(sum / channels);
    }
    yield* splitter.push(mono);
  }
  yield* splitter.flush();
}

const PCM_FORMAT_NAMES = { sampleRate: true, channels: true, frameMs: true } as const;

/**
 * A format given from plain JavaScript gets no compiler check: a missing or misspelled
 * `sampleRate` is a `ConfigError` naming it, rather than an "unsupported sample rate undefined".
 */
function checkPcmFormat(owner: string, format: PcmFormat): void {
  if (!format || typeof format !== 'object') throw new ConfigError(`${owner} needs the stream's format: { sampleRate } (e.g. { sampleRate: 16000 } for raw PCM16 at 16 kHz)`);
  checkOptionNames(owner, format, PCM_FORMAT_NAMES);
  if (format.sampleRate === undefined) throw new ConfigError(`${owner} needs { sampleRate }: the rate of the raw PCM16 on the stream (e.g. 16000)`);
  assertSampleRate(format.sampleRate, owner);
}

/**
 * An output that writes raw PCM16 to any `Writable` (a pipe to a player, a socket), honouring
 * its backpressure. Playback is assumed to run in real time from the first write, which is how
 * `playedMs` is estimated; `clear()` drops nothing already handed to the stream.
 */
export class PcmOutput implements AudioOutput {
  private readonly clock: PlaybackClock;

  /**
   * Writes nothing until the first frame.
   * @param stream Where the PCM16 goes.
   * @param sampleRate Sample rate of the audio written, in Hz.
   */
  constructor(private readonly stream: Writable, readonly sampleRate: number) {
    assertSampleRate(sampleRate, 'pcmOutput');
    this.clock = new PlaybackClock(sampleRate);
  }

  get playedMs(): number {
    return this.clock.playedMs;
  }

  get writtenMs(): number {
    return this.clock.writtenMs;
  }

  async write(frame: AudioFrame): Promise<void> {
    if (frame.sampleRate !== this.sampleRate) throw new AudioFormatError(`pcmOutput expects ${this.sampleRate} Hz audio, got ${frame.sampleRate} Hz`);
    this.clock.add(frame);
    if (!this.stream.write(Buffer.from(frameToBytes(frame)))) await new Promise<void>((r) => this.stream.once('drain', r));
  }

  clear(): void {
    this.clock.clear();
  }

  async drain(): Promise<void> {
    const q = this.clock.queuedMs;
    if (q > 0) await new Promise((r) => setTimeout(r, q));
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.stream.end(r));
  }
}

/** Raw PCM16 to a `Writable` (see {@link PcmOutput}). */
export function pcmOutput(stream: Writable, format: PcmFormat): PcmOutput {
  checkPcmFormat('pcmOutput', format);
  return new PcmOutput(stream, format.sampleRate);
}
