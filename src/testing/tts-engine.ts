import { resample } from '../audio/resample';
import { type Clock, holdOn, realClock } from '../streams/clock';
import type { Synthesizer } from '../tts/speech';

/** One piece of synthesised audio with the characters it speaks (times relative to the piece). */
export interface TtsPiece {
  /** The audio, at the output rate. */
  samples: Int16Array;
  /** The characters it speaks. */
  chars: string[];
  /** When each starts, in milliseconds from the piece's start. */
  charStartTimesMs: number[];
  /** How long each lasts, in milliseconds. */
  charsDurationsMs: number[];
}

/** Timing of the emulated TTS. */
export interface TtsTiming {
  /** Time from a generation trigger to its first audio (default 180 ms). */
  timeToFirstAudioMs?: number | undefined;
  /** Wall time per second of audio sent: 0.5 sends audio twice as fast as it plays (default 0.5). */
  realtimeFactor?: number | undefined;
  /** Audio per message, ms (default 100). */
  chunkMs?: number | undefined;
  /** The clock of these delays (default: the wall clock). */
  clock?: Clock | undefined;
}

/**
 * The synthesis queue behind the TTS emulators: text goes in as generation triggers; audio comes
 * out in order, the first piece of each trigger `timeToFirstAudioMs` after it, the rest paced at
 * the real-time factor. `clear()` drops everything pending.
 */
export class TtsStreamer {
  private readonly jobs: { text: string; at: number }[] = [];
  private running = false;
  private generation = 0;
  private readonly stop = new AbortController();
  private idleWaiters: (() => void)[] = [];

  /** Sends nothing until text is queued; each piece goes to `onPiece`. */
  constructor(
    private readonly synth: Synthesizer,
    private readonly outRate: number,
    private readonly timing: TtsTiming,
    private readonly onPiece: (piece: TtsPiece) => void,
  ) {}

  /** True when nothing is queued or being sent. */
  get idle(): boolean {
    return !this.running && this.jobs.length === 0;
  }

  /** Queues `text` for synthesis now. */
  speak(text: string): void {
    if (!text.trim()) return;
    this.jobs.push({ text, at: (this.timing.clock ?? realClock).now() });
    if (!this.running) void this.run();
  }

  /** Drops queued and in-flight audio. */
  clear(): void {
    this.generation++;
    this.jobs.length = 0;
  }

  /** Stops for good. */
  dispose(): void {
    this.clear();
    this.stop.abort();
    this.wakeIdle();
  }

  /** Resolves when everything queued has been sent. */
  whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private async run(): Promise<void> {
    this.running = true;
    const ttfa = this.timing.timeToFirstAudioMs ?? 180;
    const rtf = this.timing.realtimeFactor ?? 0.5;
    const chunkMs = this.timing.chunkMs ?? 100;
    const clock = this.timing.clock ?? realClock;
    try {
      while (this.jobs.length && !this.stop.signal.aborted) {
        const job = this.jobs.shift()!;
        const gen = this.generation;
        const audio = await holdOn(clock, Promise.resolve(this.synth(job.text)));
        const samples = audio.sampleRate === this.outRate ? audio.samples : resample(audio.samples, audio.sampleRate, this.outRate);
        const wait = job.at + ttfa - clock.now();
        if (wait > 0) await clock.sleep(wait, this.stop.signal);
        const per = Math.round((this.outRate * chunkMs) / 1000);
        const totalMs = (samples.length * 1000) / this.outRate;
        const chars = [...job.text];
        const charMs = totalMs / Math.max(1, chars.length);
        for (let off = 0; off < samples.length; off += per) {
          if (gen !== this.generation || this.stop.signal.aborted) break;
          const piece = samples.subarray(off, off + per);
          const t0 = (off * 1000) / this.outRate;
          const t1 = t0 + (piece.length * 1000) / this.outRate;
          const first = Math.ceil(t0 / charMs - 1e-9);
          const last = Math.min(chars.length, Math.ceil(t1 / charMs - 1e-9));
          const idx = Array.from({ length: Math.max(0, last - first) }, (_, i) => first + i);
          this.onPiece({
            samples: piece,
            chars: idx.map((i) => chars[i]!),
            charStartTimesMs: idx.map((i) => Math.round(i * charMs - t0)),
            charsDurationsMs: idx.map(() => Math.round(charMs)),
          });
          if (off + per < samples.length) await clock.sleep(chunkMs * rtf, this.stop.signal);
        }
      }
    } catch {
      // stopped
    } finally {
      this.running = false;
      if (this.jobs.length && !this.stop.signal.aborted) void this.run();
      else this.wakeIdle();
    }
  }
}
