import type { AudioFrame } from '../audio/frame';

/** Which characters are spoken when, relative to the start of the frame they came with. */
export interface Alignment {
  chars: string[];
  startMs: number[];
  durationsMs: number[];
}

/** Synthesised audio, with alignment when the provider sends it. */
export interface TtsFrame extends AudioFrame {
  alignment?: Alignment;
}

/** Options of one synthesis. */
export interface SynthesizeOptions {
  /** Stops the synthesis at once; the provider connection is released or reused. */
  signal?: AbortSignal;
}

/** A streaming text-to-speech provider. Implement this to add one. */
export interface TtsStream {
  /** Provider name used in errors and metrics. */
  readonly provider: string;
  /** Sample rate of the frames it yields. */
  readonly sampleRate: number;
  /**
   * Speaks text as it arrives: each item is a speakable chunk (a sentence or clause; see
   * `sentences()`), sent to the provider at once. Yields audio as it comes back.
   */
  synthesize(text: AsyncIterable<string>, options?: SynthesizeOptions): AsyncIterable<TtsFrame>;
  /** Opens a connection ahead of need so the next synthesis pays no handshake. */
  warmup?(): Promise<void>;
  /** Closes warm connections. */
  close?(): Promise<void>;
}
