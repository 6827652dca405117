import type { AudioFrame } from '../audio/frame';
import { inspectSafely } from '../provider';

/** A recognised word; times are seconds of audio since the transcription started. */
export interface SttWord {
  /** The word as recognised (with punctuation where the provider adds it). */
  word: string;
  /** Start of the word, in seconds. */
  start: number;
  /** End of the word, in seconds. */
  end: number;
  /** The provider's confidence, 0 to 1, where it gives one. */
  confidence?: number;
}

/** What a speech-to-text stream reports. Times are seconds of audio since it started. */
export type SttEvent =
  | {
      /** The user started speaking (the provider's voice activity detection). */
      type: 'speech_started';
      /** When, in seconds. */
      timestamp: number;
      /**
       * The provider's own turn model started a user turn (Deepgram Flux `StartOfTurn`): a
       * barge-in signal that needs no words.
       */
      turnStart?: boolean;
    }
  | {
      /** A guess that may still change. */
      type: 'interim';
      /** The words recognised so far. */
      text: string;
      /** Each word with its timing. */
      words: SttWord[];
    }
  | {
      /** A result that will not change. */
      type: 'final';
      /** The words recognised. */
      text: string;
      /** Each word with its timing. */
      words: SttWord[];
      /** The provider detected the end of the user's turn (Deepgram `speech_final`). */
      endOfTurn: boolean;
      /** Start of the audio this result covers, in seconds. */
      start: number;
      /** End of the audio this result covers, in seconds. */
      end: number;
    }
  | {
      /** The provider heard a gap after the last word (Deepgram `UtteranceEnd`). */
      type: 'utterance_end';
      /** End of the last word, in seconds. */
      lastWordEnd: number;
    }
  | {
      /**
       * The provider thinks the user's turn has probably ended (Deepgram Flux `EagerEndOfTurn`):
       * a reply may be prepared on `text`, but not played yet. Either a `final` with
       * `endOfTurn: true` follows (Flux guarantees the same text), or a `turn_resumed`.
       */
      type: 'eager_end_of_turn';
      /** The turn's text so far. */
      text: string;
      /** Each word with its timing. */
      words: SttWord[];
      /** Start of the audio of the turn, in seconds. */
      start: number;
      /** End of the audio transcribed so far, in seconds. */
      end: number;
    }
  | {
      /** The user went on after an `eager_end_of_turn` (Flux `TurnResumed`): drop what was prepared. */
      type: 'turn_resumed';
    };

/** Options of a transcription. */
export interface TranscribeOptions {
  /** Cancels the transcription: the socket closes and iteration throws `AbortError`. */
  signal?: AbortSignal | undefined;
}

/** A running transcription: an async iterable of events that can also be asked to finalize. */
export interface Transcription extends AsyncIterable<SttEvent> {
  /**
   * Asks the provider to turn pending interim text into a final result now (Deepgram `Finalize`),
   * e.g. when a local VAD has heard the end of the user's speech: the final comes sooner than the
   * provider's own endpointing would send it. A no-op where the protocol has no such message.
   */
  finalize(): void;
  /**
   * The consumer has taken the end of the user's turn: until new speech, nothing waits on the
   * provider's end-of-speech timing, so the quiet hold may end now (quiet audio goes out in larger
   * messages; see {@link WsSttOptions.quietHoldMs}). Optional; a no-op for providers that do not
   * batch.
   */
  turnEnded?(): void;
  /**
   * The agent's audio started (`true`) or stopped (`false`) playing. While it plays, the user's
   * speech may be a barge-in, and a barge-in on words waits for interim results: speech then goes
   * out frame by frame (see {@link WsSttOptions.speechChunkMs}). Optional; a no-op for providers
   * that do not batch.
   */
  agentSpeaking?(speaking: boolean): void;
  /**
   * Ends the transcription gracefully: no more audio is sent, the provider's last results are
   * still yielded (bounded wait), then the iteration ends. Optional for custom providers.
   */
  close?(): Promise<void>;
}

/**
 * A streaming speech-to-text provider: extend this class to add one (`class MyStt extends
 * SttStream`). Every built-in STT extends it, so `stt instanceof SttStream` holds for them; a plain
 * object of the same shape is accepted wherever an `SttStream` is. `util.inspect` of an instance
 * shows its provider, model and sample rate only, never a key.
 */
export abstract class SttStream {
  static {
    inspectSafely(this);
  }

  /** Provider name used in errors and metrics. */
  abstract readonly provider: string;
  /** Sample rate the provider is sent; input at other supported rates is resampled to it. */
  abstract readonly sampleRate: number;
  /** Transcribes audio as it arrives. Breaking out of the loop closes the connection. */
  abstract transcribe(audio: AsyncIterable<AudioFrame>, options?: TranscribeOptions): Transcription;
}

/** The same event with every time moved by `by` seconds (to keep times continuous across connections). */
export function shiftSttEvent(ev: SttEvent, by: number): SttEvent {
  if (by === 0) return ev;
  switch (ev.type) {
    case 'speech_started':
      return { ...ev, timestamp: ev.timestamp + by };
    case 'utterance_end':
      return { ...ev, lastWordEnd: ev.lastWordEnd + by };
    case 'interim':
      return { ...ev, words: ev.words.map((w) => ({ ...w, start: w.start + by, end: w.end + by })) };
    case 'final':
    case 'eager_end_of_turn':
      return { ...ev, start: ev.start + by, end: ev.end + by, words: ev.words.map((w) => ({ ...w, start: w.start + by, end: w.end + by })) };
    case 'turn_resumed':
      return ev;
  }
}
