import type { AudioFrame } from '../audio/frame';
import { inspectSafely } from '../provider';

/** Which characters are spoken when, relative to the start of the frame they came with. */
export interface Alignment {
  /** The characters spoken in this frame. */
  chars: string[];
  /** When each character starts, in milliseconds from the start of the frame. */
  startMs: number[];
  /** How long each character lasts, in milliseconds. */
  durationsMs: number[];
}

/** Synthesised audio, with alignment when the provider sends it. */
export interface TtsFrame extends AudioFrame {
  /** Which characters this frame speaks, and when (where the provider sends it). */
  alignment?: Alignment;
}

/** Options of one synthesis. */
export interface SynthesizeOptions {
  /** Stops the synthesis at once; the provider connection is released or reused. */
  signal?: AbortSignal | undefined;
  /**
   * Speak in this voice instead of the stream's own, on the same connection: only where the
   * stream says `voicePerSynthesis` (others ignore it; see `withVoice`).
   */
  voice?: string | undefined;
}

/**
 * A streaming text-to-speech provider: extend this class to add one (`class MyTts extends
 * TtsStream`). Every built-in TTS extends it; a plain object of the same shape is accepted
 * wherever a `TtsStream` is. `util.inspect` of an instance shows its provider, model, voice and
 * sample rate only, never a key.
 */
export abstract class TtsStream {
  static {
    inspectSafely(this);
  }

  /** Provider name used in errors and metrics. */
  abstract readonly provider: string;
  /** Sample rate of the frames it yields. */
  abstract readonly sampleRate: number;
  /**
   * Speaks text as it arrives: each item is a speakable chunk (a sentence or clause; see
   * `sentences()`), sent to the provider at once. Yields audio as it comes back.
   */
  abstract synthesize(text: AsyncIterable<string>, options?: SynthesizeOptions): AsyncIterable<TtsFrame>;
  /** Opens a connection ahead of need so the next synthesis pays no handshake (optional). */
  warmup?(): Promise<void>;
  /** Closes warm connections (optional). */
  close?(): Promise<void>;
  /** True when `synthesize()` takes a `voice` per call on the same connection (optional). */
  readonly voicePerSynthesis?: boolean;
  /**
   * A new stream with the same settings in another voice, for providers whose voice is fixed per
   * connection (optional).
   */
  withVoice?(voice: string): TtsStream;
}
