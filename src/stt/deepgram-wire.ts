/**
 * The fields of Deepgram's live (`/v1/listen`) server messages that voxline reads. Internal:
 * test/contract/deepgram.test.ts checks at compile time that the official `@deepgram/sdk` types
 * provide every one of them, with the same names and types, so a renamed field fails the build.
 */

/** `Results`: a transcript of a span of audio. */
export interface DeepgramResultsWire {
  type: 'Results';
  start: number;
  duration: number;
  is_final?: boolean;
  speech_final?: boolean;
  from_finalize?: boolean;
  channel: {
    alternatives: {
      transcript: string;
      words: { word: string; punctuated_word?: string; start: number; end: number; confidence: number }[];
    }[];
  };
}

/** `SpeechStarted` (with `vad_events=true`). */
export interface DeepgramSpeechStartedWire {
  type: 'SpeechStarted';
  timestamp: number;
}

/** `UtteranceEnd` (with `utterance_end_ms`). */
export interface DeepgramUtteranceEndWire {
  type: 'UtteranceEnd';
  last_word_end: number;
}

/** Flux (`/v2/listen`) `TurnInfo`: the state of the current turn. */
export interface DeepgramFluxTurnInfoWire {
  type: 'TurnInfo';
  event: string;
  turn_index: number;
  audio_window_start: number;
  audio_window_end: number;
  transcript: string;
  words: { word: string; confidence: number; start?: number; end?: number }[];
  end_of_turn_confidence: number;
}
