import type { AudioFrame } from './frame';
import { rms } from './frame';

/** A change between silence and speech, in audio time since the first frame. */
export interface VadEvent {
  /** Speech started or ended. */
  type: 'speech_start' | 'speech_end';
  /** Milliseconds of audio since the first frame processed: where speech starts or ends. */
  timeMs: number;
  /** Confidence that the audio around this point is speech, in [0, 1]. */
  probability: number;
}

/** Voice activity detection: frames in, speech-start and speech-end events out. */
export interface Vad {
  /** Processes one frame; returns the events it completes (usually none). */
  process(frame: AudioFrame): VadEvent[] | Promise<VadEvent[]>;
  /** True while inside speech. */
  readonly speaking: boolean;
  /** Forgets all state. */
  reset(): void;
}

/** Options of {@link EnergyVad}. */
export interface EnergyVadOptions {
  /** Level above which a 10 ms window counts as speech, in dBFS. Default -42. */
  thresholdDb?: number | undefined;
  /** Speech must last this long before `speech_start` is reported. Default 60 ms. */
  minSpeechMs?: number | undefined;
  /** Silence must last this long before `speech_end` is reported. Default 120 ms. */
  minSilenceMs?: number | undefined;
}

/**
 * A level-based voice-activity detector, good enough to mark speech in clean audio (it does not
 * tell speech from loud noise: use Silero for that). Works on 10 ms windows.
 */
export class EnergyVad implements Vad {
  private readonly threshold: number;
  private readonly minSpeechMs: number;
  private readonly minSilenceMs: number;
  private timeMs = 0;
  private inSpeech = false;
  private runStart = -1;
  private runMs = 0;
  private lastSpeechEnd = 0;
  private silentMs = 0;
  private carry: Int16Array = new Int16Array(0);

  /**
   * Starts in silence.
   * @param options Thresholds (the defaults suit 16-bit speech at a normal level).
   */
  constructor(options: EnergyVadOptions = {}) {
    this.threshold = Math.pow(10, (options.thresholdDb ?? -42) / 20);
    this.minSpeechMs = options.minSpeechMs ?? 60;
    this.minSilenceMs = options.minSilenceMs ?? 120;
  }

  get speaking(): boolean {
    return this.inSpeech;
  }

  reset(): void {
    this.timeMs = 0;
    this.inSpeech = false;
    this.runStart = -1;
    this.runMs = 0;
    this.silentMs = 0;
    this.carry = new Int16Array(0);
  }

  process(frame: AudioFrame): VadEvent[] {
    const win = Math.max(1, Math.round(frame.sampleRate / 100));
    let samples = frame.samples;
    if (this.carry.length) {
      const joined = new Int16Array(this.carry.length + samples.length);
      joined.set(this.carry);
      joined.set(samples, this.carry.length);
      samples = joined;
    }
    const events: VadEvent[] = [];
    let i = 0;
    for (; i + win <= samples.length; i += win) {
      const level = rms(samples.subarray(i, i + win));
      const start = this.timeMs;
      this.timeMs += 10;
      const p = Math.min(1, level / (this.threshold * 4));
      if (level >= this.threshold) {
        this.silentMs = 0;
        // Speech ends at the window's last loud sample, not at the window's end.
        const limit = this.threshold * 32768;
        let last = i + win - 1;
        while (last > i && Math.abs(samples[last]!) < limit) last--;
        this.lastSpeechEnd = start + ((last - i + 1) * 1000) / frame.sampleRate;
        if (this.runStart < 0) this.runStart = start;
        this.runMs += 10;
        if (!this.inSpeech && this.runMs >= this.minSpeechMs) {
          this.inSpeech = true;
          events.push({ type: 'speech_start', timeMs: this.runStart, probability: p });
        }
      } else {
        this.silentMs += 10;
        if (this.silentMs >= this.minSilenceMs) {
          if (this.inSpeech) events.push({ type: 'speech_end', timeMs: this.lastSpeechEnd, probability: p });
          this.inSpeech = false;
          this.runStart = -1;
          this.runMs = 0;
        } else if (!this.inSpeech && this.silentMs >= 30) {
          this.runStart = -1;
          this.runMs = 0;
        }
      }
    }
    this.carry = samples.slice(i);
    return events;
  }
}
