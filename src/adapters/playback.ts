import { SUPPORTED_RATES, type AudioFrame } from '../audio/frame';
import { ConfigError } from '../errors';
import { type Clock, realClock } from '../streams/clock';
import type { AudioOutput } from './types';
import { checkOptionNames } from '../provider';

/** One stretch of audio as it was (or will be) played, on the wall clock. */
export interface PlayedSegment {
  /** When it starts playing, on the playback's clock (`performance.now()` by default). */
  startAt: number;
  /** The audio (what was cut by `clear()` is removed). */
  samples: Int16Array;
}

/**
 * Accounts for real-time playback without a timer: audio written plays out continuously from the
 * moment it is written (or when the audio before it ends), so how much has played is computed from
 * the clock. Outputs that play through a device or a remote peer build on it.
 */
export class PlaybackClock {
  private endAt = 0;
  private written = 0;
  /** Segments of audio in play order, when recording is on. */
  readonly segments: PlayedSegment[] = [];

  /**
   * Starts with nothing queued.
   * @param sampleRate Sample rate of the audio written, in Hz.
   * @param recording Keep the audio played (see `segments`).
   * @param time The clock playback runs on (default: the wall clock).
   */
  constructor(readonly sampleRate: number, private readonly recording = false, readonly time: Clock = realClock) {}

  /** Milliseconds written and not cleared. */
  get writtenMs(): number {
    return this.written;
  }

  /** Milliseconds queued and not yet played. */
  get queuedMs(): number {
    return Math.max(0, this.endAt - this.time.now());
  }

  /** Milliseconds played so far. */
  get playedMs(): number {
    return this.written - this.queuedMs;
  }

  /** Accounts for a frame; returns when it starts playing. */
  add(frame: AudioFrame): number {
    const now = this.time.now();
    const startAt = Math.max(now, this.endAt);
    const ms = (frame.samples.length * 1000) / frame.sampleRate;
    this.endAt = startAt + ms;
    this.written += ms;
    if (this.recording) this.segments.push({ startAt, samples: frame.samples.slice() });
    return startAt;
  }

  /** Drops what has not played yet. Returns the milliseconds dropped. */
  clear(): number {
    const now = this.time.now();
    const dropped = this.queuedMs;
    this.written -= dropped;
    this.endAt = Math.min(this.endAt, now);
    if (this.recording) {
      while (this.segments.length && this.segments[this.segments.length - 1]!.startAt >= now) this.segments.pop();
      const last = this.segments[this.segments.length - 1];
      if (last) {
        const keep = Math.max(0, Math.round(((now - last.startAt) * this.sampleRate) / 1000));
        if (keep < last.samples.length) last.samples = last.samples.slice(0, keep);
      }
    }
    return dropped;
  }
}

/**
 * Paces an output to real time: `pace` accounts a frame and waits while more than `bufferMs` is
 * queued ahead of playback; `clear` drops what is queued and wakes a waiting writer.
 */
export class Pacer {
  /** What has been written and played. */
  readonly clock: PlaybackClock;
  private wake = new AbortController();
  private stopped = false;

  /**
   * Starts with nothing queued.
   * @param sampleRate Sample rate of the audio, in Hz.
   * @param bufferMs How far ahead of playback a writer may get before `pace` waits.
   * @param recording Keep the audio played.
   * @param time The clock playback runs on.
   */
  constructor(sampleRate: number, private readonly bufferMs: number, recording = false, time: Clock = realClock) {
    this.clock = new PlaybackClock(sampleRate, recording, time);
  }

  /** True once {@link Pacer.stop} was called. */
  get closed(): boolean {
    return this.stopped;
  }

  /** Accounts `frame` and waits until the queue is back under the buffer. */
  async pace(frame: AudioFrame): Promise<void> {
    this.clock.add(frame);
    const ahead = this.clock.queuedMs - this.bufferMs;
    if (ahead > 0 && !this.stopped) await this.clock.time.sleep(ahead, this.wake.signal).catch(() => {});
  }

  /** Drops the queued audio and wakes a writer waiting in `pace`. */
  clear(): void {
    this.clock.clear();
    this.wake.abort();
    this.wake = new AbortController();
  }

  /** Resolves when the queued audio has played (or on `clear`/`stop`). */
  async drain(): Promise<void> {
    const q = this.clock.queuedMs;
    if (q > 0 && !this.stopped) await this.clock.time.sleep(q, this.wake.signal).catch(() => {});
  }

  /** Stops for good: no more waiting. */
  stop(): void {
    this.stopped = true;
    this.wake.abort();
  }
}

/** Options of {@link virtualSpeaker}. */
export interface VirtualSpeakerOptions {
  /** Sample rate (default 16000). */
  sampleRate?: number | undefined;
  /** How far ahead of playback `write` may run before it waits (default 200 ms). */
  bufferMs?: number | undefined;
  /** Keep every played segment (for a recording of the conversation). Default false. */
  record?: boolean | undefined;
  /** The time source it plays on (default: the wall clock; `acceleratedClock()` in tests). */
  clock?: Clock | undefined;
}

/** An output that plays in real time into nothing: for tests, benchmarks and servers. */
export class VirtualSpeaker implements AudioOutput {
  readonly sampleRate: number;
  private readonly pacer: Pacer;
  /** Time of every `clear()` call on the speaker's clock, for measurements. */
  readonly clears: number[] = [];

  /** Checks the sample rate (a `ConfigError` for one the resampler cannot serve). */
  constructor(options: VirtualSpeakerOptions = {}) {
    this.sampleRate = options.sampleRate ?? 16000;
    checkOutputRate(this.sampleRate, new.target.name);
    this.pacer = new Pacer(this.sampleRate, options.bufferMs ?? 200, options.record ?? false, options.clock);
  }

  /** The playback accounting (with the played segments when recording). */
  get clock(): PlaybackClock {
    return this.pacer.clock;
  }

  get playedMs(): number {
    return this.clock.playedMs;
  }

  get writtenMs(): number {
    return this.clock.writtenMs;
  }

  async write(frame: AudioFrame): Promise<void> {
    if (!this.pacer.closed) await this.pacer.pace(frame);
  }

  clear(): void {
    this.clears.push(this.clock.time.now());
    this.pacer.clear();
  }

  drain(): Promise<void> {
    return this.pacer.drain();
  }

  async close(): Promise<void> {
    this.pacer.stop();
    this.clock.clear();
  }
}

/** The option names of {@link virtualSpeaker}. */
const SPEAKER_OPTIONS: Readonly<Record<keyof VirtualSpeakerOptions, true>> = { sampleRate: true, bufferMs: true, record: true, clock: true };

/** A real-time output into nothing (see {@link VirtualSpeaker}). */
export function virtualSpeaker(options?: VirtualSpeakerOptions): VirtualSpeaker {
  checkOptionNames('virtualSpeaker', options ?? {}, SPEAKER_OPTIONS);
  return new VirtualSpeaker(options);
}

/**
 * Refuses, at construction, an output rate the resampler cannot serve (the agent would go mute
 * mid-call at its first reply otherwise).
 */
function checkOutputRate(rate: number, owner: string): void {
  if (!(SUPPORTED_RATES as readonly number[]).includes(rate)) throw new ConfigError(`${owner}: sampleRate ${rate} Hz is not one voxline can play (supported: ${SUPPORTED_RATES.join(', ')})`);
}
