import type { SttEngineEvent } from './stt-engine';

/**
 * The server messages the Deepgram emulator sends, one builder per type. Internal: every message
 * goes through these, and test/contract/deepgram.test.ts checks at compile time that what they
 * build matches the official `@deepgram/sdk` types field by field.
 */

/** The `metadata` object every `Results` carries. */
export function resultsMetadata(requestId: string, modelUuid: string, model: string) {
  return { request_id: requestId, model_uuid: modelUuid, model_info: { name: model, version: '2024-01-26.8851', arch: 'base' } };
}

/** `Results` of one recogniser result. */
export function resultsMessage(ev: Extract<SttEngineEvent, { type: 'result' }>, metadata: ReturnType<typeof resultsMetadata>) {
  return {
    type: 'Results' as const,
    channel_index: [0, 1],
    duration: ev.duration,
    start: ev.start,
    is_final: ev.isFinal,
    speech_final: ev.speechFinal,
    from_finalize: ev.fromFinalize,
    channel: { alternatives: [{ transcript: ev.text, confidence: ev.words.length ? 0.98 : 0, words: ev.words }] },
    metadata,
  };
}

/** `SpeechStarted`: speech began `timestamp` seconds into the stream. */
export function speechStartedMessage(timestamp: number) {
  return { type: 'SpeechStarted' as const, channel: [0], timestamp };
}

/** `UtteranceEnd`: the gap after the last final word reached `utterance_end_ms`. */
export function utteranceEndMessage(lastWordEnd: number) {
  return { type: 'UtteranceEnd' as const, channel: [0, 1], last_word_end: lastWordEnd };
}

/** `Metadata`: the summary sent after `CloseStream`, before the close. */
export function metadataMessage(requestId: string, durationSec: number, channels: number) {
  return {
    type: 'Metadata' as const,
    transaction_key: 'deprecated',
    request_id: requestId,
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    created: new Date().toISOString(),
    duration: durationSec,
    channels,
  };
}

/**
 * `Error` for an unparseable or unknown client message. Not in the official SDK's v1 types; the
 * shape is from Deepgram's listen v1 AsyncAPI, so it is not contract-checked.
 */
export function schemaErrorMessage(description: string, message: string) {
  return { type: 'Error' as const, variant: 'SchemaError', description, message };
}

/** Flux (`/v2/listen`) `Connected`: the first message of a connection. */
export function fluxConnectedMessage(requestId: string, sequenceId: number) {
  return { type: 'Connected' as const, request_id: requestId, sequence_id: sequenceId };
}

/** One word of a Flux transcript. */
export interface FluxWord {
  word: string;
  confidence: number;
  start: number;
  end: number;
}

/** Flux `TurnInfo`: one turn event with the turn's transcript so far. */
export function fluxTurnInfoMessage(
  requestId: string,
  sequenceId: number,
  event: 'StartOfTurn' | 'Update' | 'EagerEndOfTurn' | 'TurnResumed' | 'EndOfTurn',
  turn: { index: number; start: number; end: number; words: FluxWord[]; confidence: number; trigger?: 'model' | 'manual' | 'timeout' },
) {
  return {
    type: 'TurnInfo' as const,
    request_id: requestId,
    sequence_id: sequenceId,
    event,
    turn_index: turn.index,
    audio_window_start: turn.start,
    audio_window_end: turn.end,
    transcript: turn.words.map((w) => w.word).join(' '),
    words: turn.words,
    end_of_turn_confidence: turn.confidence,
    // Present on every EndOfTurn and only there.
    ...(event === 'EndOfTurn' ? { trigger: turn.trigger ?? 'model' } : {}),
  };
}

/** Flux's end-of-turn thresholds as `ConfigureSuccess` reports them. */
export interface FluxThresholds {
  eot_threshold?: number;
  eager_eot_threshold?: number;
  eot_timeout_ms?: number;
}

/** Flux `ConfigureSuccess`: the settings now in force. */
export function fluxConfigureSuccessMessage(requestId: string, sequenceId: number, thresholds: FluxThresholds, keyterms: string[]) {
  return { type: 'ConfigureSuccess' as const, request_id: requestId, thresholds, keyterms, sequence_id: sequenceId };
}

/** Flux `ConfigureFailure`. */
export function fluxConfigureFailureMessage(requestId: string, sequenceId: number) {
  return { type: 'ConfigureFailure' as const, request_id: requestId, sequence_id: sequenceId };
}

/** Flux `Error` (fatal; the connection closes after it). */
export function fluxErrorMessage(sequenceId: number, code: string, description: string) {
  return { type: 'Error' as const, sequence_id: sequenceId, code, description };
}
