import type { AudioFrame } from '../audio/frame';
import { ProtocolError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { GATEWAY_STT_OPTIONS } from '../option-names';
import { SttStream, type SttEvent, type SttWord, type Transcription, type TranscribeOptions } from './types';
import { WsTranscription, checkQuietOptions, encodeLinear16, type WsSttOptions } from './ws-transcription';

/** Options of {@link GatewayStt}. */
export interface GatewaySttOptions extends Omit<WsSttOptions, 'keepAliveMs'> {
  /** Gateway key (`Authorization: Bearer`). */
  apiKey: string;
  /** Model id, e.g. `deepgram/nova-3`. */
  model: string;
  /** Gateway base URL (default `https://api.aigateway.sh/v1`; its `wss:` form is used). */
  baseURL?: string | undefined;
}

/**
 * The gateway's streaming STT endpoint (`/v1/audio/transcriptions/stream`): PCM16 16 kHz in,
 * `{transcript, is_final, speech_final?}` JSON out, `{"type":"CloseStream"}` to end.
 */
export class GatewayStt extends SttStream {
  readonly provider = 'gateway';
  readonly sampleRate = 16000;
  readonly #url: string;
  readonly #apiKey: string;
  readonly #options: Omit<GatewaySttOptions, 'apiKey'>;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: GatewaySttOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as GatewaySttOptions);
    this.#apiKey = checkApiKey('GatewayStt', apiKey);
    checkQuietOptions('GatewayStt', rest);
    this.#options = rest;
    this.#url = `${checkBaseURL('GatewayStt', options, 'https://api.aigateway.sh/v1', 'ws')}/audio/transcriptions/stream?model=${encodeURIComponent(options.model)}`;
    checkOptionNames('GatewayStt', options, GATEWAY_STT_OPTIONS);
  }

  transcribe(audio: AsyncIterable<AudioFrame>, options: TranscribeOptions = {}): Transcription {
    return new WsTranscription(
      {
        provider: this.provider,
        sampleRate: this.sampleRate,
        url: this.#url,
        headers: { Authorization: `Bearer ${this.#apiKey}` },
        encode: encodeLinear16,
        parse: parseGatewayStt,
        // The contract is binary audio plus CloseStream: no KeepAlive (PROTOCOLS.md section 8).
        closeMessage: '{"type":"CloseStream"}',
      },
      audio,
      { ...this.#options, ...options },
    );
  }
}

/** Maps one gateway STT message to voxline events. */
export function parseGatewayStt(msg: Record<string, unknown>): { events: SttEvent[]; ackedTo?: number; error?: ProviderError } {
  if (msg.type === 'speech_started') return { events: [{ type: 'speech_started', timestamp: Number(msg.timestamp ?? 0) }] };
  if (msg.type === 'error') return { events: [], error: new ProviderError(`gateway STT error: ${String(msg.message ?? '')}`, { provider: 'gateway' }) };
  if (typeof msg.transcript !== 'string' || typeof msg.is_final !== 'boolean') {
    throw new ProtocolError('gateway STT message lacks transcript or is_final', { provider: 'gateway' });
  }
  const words: SttWord[] = Array.isArray(msg.words) ? (msg.words as Record<string, unknown>[]).map((w) => ({ word: String(w.word), start: Number(w.start), end: Number(w.end) })) : [];
  if (!msg.is_final) return { events: msg.transcript ? [{ type: 'interim', text: msg.transcript, words }] : [] };
  const start = typeof msg.start === 'number' ? msg.start : words[0]?.start ?? 0;
  const end = typeof msg.duration === 'number' ? start + msg.duration : words[words.length - 1]?.end ?? start;
  const endOfTurn = msg.speech_final !== false;
  if (!msg.transcript && !endOfTurn) return { events: [], ackedTo: end };
  return { events: [{ type: 'final', text: msg.transcript, words, endOfTurn, start, end }], ackedTo: end };
}
