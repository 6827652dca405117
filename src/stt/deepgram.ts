import type { AudioFrame } from '../audio/frame';
import { assertSampleRate } from '../audio/frame';
import { encodeMulaw } from '../audio/mulaw';
import { ProtocolError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { DEEPGRAM_STT_OPTIONS } from '../option-names';
import { SttStream, type SttEvent, type SttWord, type Transcription, type TranscribeOptions } from './types';
import type { DeepgramResultsWire, DeepgramSpeechStartedWire, DeepgramUtteranceEndWire } from './deepgram-wire';
import { WsTranscription, checkQuietOptions, encodeLinear16, type WsSttOptions } from './ws-transcription';

/** Options of {@link DeepgramStt}. Query options follow Deepgram's live API. */
export interface DeepgramSttOptions extends WsSttOptions {
  /** Deepgram API key (sent as `Authorization: Token <key>`). */
  apiKey: string;
  /** Model, e.g. `nova-3` (default), `nova-2-phonecall`. */
  model?: string | undefined;
  /** BCP-47 language, e.g. `en-US`, or `multi`. */
  language?: string | undefined;
  /** Encoding sent: `linear16` (default) or `mulaw` (8-bit telephony). */
  encoding?: 'linear16' | 'mulaw' | undefined;
  /** Sample rate sent (default 16000). Input at other rates is resampled. */
  sampleRate?: number | undefined;
  /** Interim results (default true). */
  interimResults?: boolean | undefined;
  /** Silence in ms before `speech_final`, or false to disable (default 300). */
  endpointing?: number | false | undefined;
  /** Enables `UtteranceEnd` after this much silence (default 1000; needs interim results). */
  utteranceEndMs?: number | undefined;
  /** `SpeechStarted` events (default true). */
  vadEvents?: boolean | undefined;
  /** Smart formatting (default true). */
  smartFormat?: boolean | undefined;
  /** Punctuation (default true). */
  punctuate?: boolean | undefined;
  /** Key terms to boost (nova-3). */
  keyterms?: string[] | undefined;
  /** Any other query parameters (`diarize`, `redact`, `tag`, ...). */
  query?: Record<string, string | number | boolean> | undefined;
  /**
   * Base URL: scheme, host and path up to the API version (default `wss://api.deepgram.com/v1`;
   * `https:` is taken as `wss:`). `/listen` is appended.
   */
  baseURL?: string | undefined;
  /** Endpoint path after `baseURL` (default `/listen`; the gateway's Deepgram-shaped endpoint is `/realtime`). */
  path?: string | undefined;
  /** `token` for Deepgram keys (default), `bearer` for short-lived JWTs or gateways. */
  authScheme?: 'token' | 'bearer' | undefined;
  /** Provider name in errors and metrics (default `deepgram`). */
  provider?: string | undefined;
}

/** Deepgram live streaming speech-to-text over WebSocket (`/v1/listen`). */
export class DeepgramStt extends SttStream {
  readonly provider: string;
  readonly sampleRate: number;
  readonly #url: string;
  readonly #apiKey: string;
  readonly #options: Omit<DeepgramSttOptions, 'apiKey'>;
  readonly #quietHoldMs: number;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: DeepgramSttOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as DeepgramSttOptions);
    this.#apiKey = checkApiKey('DeepgramStt', apiKey);
    this.#options = rest;
    this.provider = options.provider ?? 'deepgram';
    this.sampleRate = options.sampleRate ?? (options.encoding === 'mulaw' ? 8000 : 16000);
    assertSampleRate(this.sampleRate, 'DeepgramStt sampleRate');
    checkQuietOptions('DeepgramStt', rest);
    const interim = options.interimResults ?? true;
    const q = new URLSearchParams({
      model: options.model ?? 'nova-3',
      encoding: options.encoding ?? 'linear16',
      sample_rate: String(this.sampleRate),
      channels: '1',
      interim_results: String(interim),
      endpointing: String(options.endpointing ?? 300),
      vad_events: String(options.vadEvents ?? true),
      smart_format: String(options.smartFormat ?? true),
      punctuate: String(options.punctuate ?? true),
    });
    if (interim && options.utteranceEndMs !== 0) q.set('utterance_end_ms', String(options.utteranceEndMs ?? 1000));
    if (options.language) q.set('language', options.language);
    for (const k of options.keyterms ?? []) q.append('keyterm', k);
    for (const [k, v] of Object.entries(options.query ?? {})) q.set(k, String(v));
    // Quiet audio may be batched only once Deepgram's end-of-speech timers (as sent) have run out.
    this.#quietHoldMs = Math.max(Number(q.get('endpointing')) || 0, Number(q.get('utterance_end_ms')) || 0) + 250;
    this.#url = `${checkBaseURL('DeepgramStt', options, 'wss://api.deepgram.com/v1', 'ws')}${options.path ?? '/listen'}?${q}`;
    checkOptionNames('DeepgramStt', options, DEEPGRAM_STT_OPTIONS, '(other query parameters go in `query`)');
  }

  transcribe(audio: AsyncIterable<AudioFrame>, options: TranscribeOptions = {}): Transcription {
    const provider = this.provider;
    const mulaw = this.#options.encoding === 'mulaw';
    return new WsTranscription(
      {
        provider,
        sampleRate: this.sampleRate,
        url: this.#url,
        headers: { Authorization: `${this.#options.authScheme === 'bearer' ? 'Bearer' : 'Token'} ${this.#apiKey}` },
        encode: mulaw ? (s) => Buffer.from(encodeMulaw(s)) : encodeLinear16,
        parse: (msg) => parseDeepgram(msg, provider),
        closeMessage: '{"type":"CloseStream"}',
        keepAliveMessage: '{"type":"KeepAlive"}',
        finalizeMessage: '{"type":"Finalize"}',
        quietHoldMs: this.#quietHoldMs,
      },
      audio,
      { ...this.#options, ...options },
    );
  }
}

/** Maps one Deepgram live message to voxline events. */
export function parseDeepgram(msg: Record<string, unknown>, provider = 'deepgram'): { events: SttEvent[]; ackedTo?: number; error?: ProviderError } {
  switch (msg.type) {
    case 'Results': {
      const r = msg as unknown as DeepgramResultsWire;
      const alt = r.channel?.alternatives?.[0];
      if (!alt || typeof alt.transcript !== 'string' || typeof r.start !== 'number' || typeof r.duration !== 'number') {
        throw new ProtocolError(`${provider} sent a Results message without channel.alternatives[0].transcript, start or duration`, { provider });
      }
      const words: SttWord[] = (Array.isArray(alt.words) ? alt.words : []).map((w) => ({
        word: String(w.punctuated_word ?? w.word ?? ''),
        start: Number(w.start),
        end: Number(w.end),
        confidence: typeof w.confidence === 'number' ? w.confidence : undefined,
      }));
      const text = alt.transcript;
      if (r.is_final) {
        const ackedTo = r.start + r.duration;
        // Empty finals are normal (silence); only a speech_final one still ends a turn.
        if (!text && !r.speech_final) return { events: [], ackedTo };
        return { events: [{ type: 'final', text, words, endOfTurn: r.speech_final === true, start: r.start, end: ackedTo }], ackedTo };
      }
      return { events: text ? [{ type: 'interim', text, words }] : [] };
    }
    case 'SpeechStarted':
      return { events: [{ type: 'speech_started', timestamp: Number((msg as unknown as DeepgramSpeechStartedWire).timestamp ?? 0) }] };
    case 'UtteranceEnd':
      return { events: [{ type: 'utterance_end', lastWordEnd: Number((msg as unknown as DeepgramUtteranceEndWire).last_word_end ?? 0) }] };
    case 'Metadata':
      return { events: [] };
    case 'Error':
      // Not in the official SDK's v1 message union; shape from the listen v1 AsyncAPI (PROTOCOLS.md 1.4).
      return { events: [], error: new ProviderError(`${provider} error ${String(msg.variant ?? '')}: ${String(msg.description ?? msg.message ?? '')}`.trim(), { provider }) };
    default:
      return { events: [] };
  }
}
