import type { AudioFrame } from '../audio/frame';
import { ConfigError, ProtocolError, ProviderError, TimeoutError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { DEEPGRAM_FLUX_STT_OPTIONS } from '../option-names';
import type { DeepgramFluxTurnInfoWire } from './deepgram-wire';
import { SttStream, type SttEvent, type SttWord, type TranscribeOptions, type Transcription } from './types';
import { WsTranscription, checkQuietOptions, encodeLinear16, type WsSttOptions, type WsSttProtocol } from './ws-transcription';

/** End-of-turn settings of Deepgram Flux, at connection or mid-stream with `configure()`. */
export interface FluxTurnSettings {
  /** Confidence that ends a turn, 0.5 to 1.0 (Deepgram's default 0.7; 1.0 leaves every end to `forceEndTurn()` or the timeout). */
  eotThreshold?: number | undefined;
  /**
   * Confidence that sends an early `eager_end_of_turn`, 0.3 to 0.9, at most `eotThreshold`.
   * Unset (the default) turns eager end of turn and `turn_resumed` off.
   */
  eagerEotThreshold?: number | undefined;
  /** A turn ends this long after speech whatever the confidence, 500 to 60 000 ms (Deepgram's default 5000). */
  eotTimeoutMs?: number | undefined;
  /** Key terms to boost. */
  keyterms?: string[] | undefined;
}

/** Options of {@link DeepgramFluxStt}. */
export interface DeepgramFluxSttOptions extends FluxTurnSettings, Omit<WsSttOptions, 'keepAliveMs'> {
  /** Deepgram API key (sent as `Authorization: Token <key>`). */
  apiKey: string;
  /** Model: `flux-general-en` (default) or `flux-general-multi`. */
  model?: string | undefined;
  /** Any other query parameters (`tag`, `mip_opt_out`, `language_hint`, ...). */
  query?: Record<string, string | number | boolean> | undefined;
  /**
   * Base URL: scheme, host and path up to the API version (default `wss://api.deepgram.com/v2`;
   * `https:` is taken as `wss:`). `/listen` is appended.
   */
  baseURL?: string | undefined;
  /** Provider name in errors and metrics (default `deepgram-flux`). */
  provider?: string | undefined;
}

/** A running Flux transcription: the events, plus Flux's mid-stream controls. */
export interface FluxTranscription extends Transcription {
  /**
   * Changes the end-of-turn settings mid-stream (`Configure`); resolves on Deepgram's
   * `ConfigureSuccess`, rejects with a `ProviderError` on `ConfigureFailure`. The settings also
   * apply to any reconnection.
   */
  configure(settings: FluxTurnSettings): Promise<void>;
  /**
   * Ends the current turn now (`ForceEndTurn`), e.g. on push-to-talk release: Deepgram answers
   * with the turn's `EndOfTurn`, reported as a final that ends the turn. Needs the feature on the
   * Deepgram deployment (hosted Flux has it).
   */
  forceEndTurn(): void;
}

/**
 * Deepgram Flux (`/v2/listen`, `flux-general-en`): streaming STT with the turn-taking built into
 * the model. Its turn events map onto voxline's STT events: `StartOfTurn` is a `speech_started`
 * with `turnStart: true` (a barge-in signal), `Update` an `interim`, `EagerEndOfTurn` an
 * `eager_end_of_turn` (start a reply early), `TurnResumed` a `turn_resumed` (drop it), and
 * `EndOfTurn` a `final` that ends the turn. `finalize()` does nothing: Flux ends turns itself, or
 * on `forceEndTurn()`. At the end of the input (`CloseStream`) Flux ends no turn: a turn still open
 * ends with a `final` built from its last `Update`, as Deepgram's docs advise, and Flux's close
 * without a status code ends the transcription.
 */
export class DeepgramFluxStt extends SttStream {
  readonly provider: string;
  readonly sampleRate = 16000;
  readonly #apiKey: string;
  readonly #base: string;
  readonly #options: Omit<DeepgramFluxSttOptions, 'apiKey'>;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: DeepgramFluxSttOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as DeepgramFluxSttOptions);
    this.#apiKey = checkApiKey('DeepgramFluxStt', apiKey);
    checkTurnSettings('DeepgramFluxStt', rest);
    checkQuietOptions('DeepgramFluxStt', rest);
    this.#options = rest;
    this.provider = rest.provider ?? 'deepgram-flux';
    this.#base = `${checkBaseURL('DeepgramFluxStt', rest, 'wss://api.deepgram.com/v2', 'ws')}/listen`;
    checkOptionNames('DeepgramFluxStt', options, DEEPGRAM_FLUX_STT_OPTIONS, '(other query parameters go in `query`)');
  }

  transcribe(audio: AsyncIterable<AudioFrame>, options: TranscribeOptions = {}): FluxTranscription {
    return new DeepgramFluxTranscription(this.provider, this.#base, this.#apiKey, this.#options, audio, options);
  }
}

class DeepgramFluxTranscription extends WsTranscription implements FluxTranscription {
  readonly #state: FluxState;

  constructor(provider: string, base: string, apiKey: string, options: Omit<DeepgramFluxSttOptions, 'apiKey'>, audio: AsyncIterable<AudioFrame>, transcribe: TranscribeOptions) {
    const state: FluxState = { provider, settings: { ...options }, pending: [] };
    const proto: WsSttProtocol = {
      provider,
      sampleRate: 16000,
      get url() {
        return `${base}?${fluxQuery(options.model ?? 'flux-general-en', state.settings, options.query)}`;
      },
      headers: { Authorization: `Token ${apiKey}` },
      encode: encodeLinear16,
      parse: (msg) => {
        if (msg.type === 'ConfigureSuccess' || msg.type === 'ConfigureFailure') {
          const p = state.pending.shift();
          if (p) {
            clearTimeout(p.timer);
            if (msg.type === 'ConfigureSuccess') p.resolve();
            else p.reject(new ProviderError(`${provider} refused the Configure message`, { provider }));
          }
          return { events: [] };
        }
        return parseFlux(msg, provider);
      },
      closeMessage: '{"type":"CloseStream"}',
      // After CloseStream, Flux closes without a status code (developers.deepgram.com/docs/flux/close-stream).
      closeCodes: [1000, 1005],
      // Deepgram recommends 80 ms chunks for Flux. The hold outlasts the forced end of turn
      // (eot_timeout_ms, default 5000, as configured now).
      quietChunkMs: 80,
      speechChunkMs: 80,
      get quietHoldMs() {
        return Math.max(1500, (state.settings.eotTimeoutMs ?? 5000) + 250);
      },
    };
    super(proto, audio, { ...options, ...transcribe });
    this.#state = state;
    void this.ended.then(() => {
      for (const p of state.pending.splice(0)) {
        clearTimeout(p.timer);
        p.reject(new ProviderError('the transcription ended before Flux answered the Configure message', { provider }));
      }
    });
  }

  configure(settings: FluxTurnSettings): Promise<void> {
    try {
      checkTurnSettings('configure()', { ...this.#state.settings, ...settings });
    } catch (err) {
      return Promise.reject(err);
    }
    const thresholds = {
      ...(settings.eotThreshold !== undefined ? { eot_threshold: settings.eotThreshold } : {}),
      ...(settings.eagerEotThreshold !== undefined ? { eager_eot_threshold: settings.eagerEotThreshold } : {}),
      ...(settings.eotTimeoutMs !== undefined ? { eot_timeout_ms: settings.eotTimeoutMs } : {}),
    };
    const message = { type: 'Configure', ...(Object.keys(thresholds).length ? { thresholds } : {}), ...(settings.keyterms ? { keyterms: settings.keyterms } : {}) };
    if (!this.sendControl(JSON.stringify(message))) return Promise.reject(new ProviderError(`${this.#state.provider} is not connected: Configure was not sent`, { provider: this.#state.provider, retryable: true }));
    // Reconnections use the new settings too.
    Object.assign(this.#state.settings, settings);
    return new Promise((resolve, reject) => {
      const entry: PendingConfigure = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#state.pending.splice(this.#state.pending.indexOf(entry), 1);
          reject(new TimeoutError(`${this.#state.provider} did not answer the Configure message within 5000 ms`, { provider: this.#state.provider }));
        }, 5000),
      };
      this.#state.pending.push(entry);
    });
  }

  forceEndTurn(): void {
    this.sendControl('{"type":"ForceEndTurn"}');
  }
}

interface PendingConfigure {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface FluxState {
  provider: string;
  settings: FluxTurnSettings;
  pending: PendingConfigure[];
}

function fluxQuery(model: string, s: FluxTurnSettings, extra: Record<string, string | number | boolean> = {}): URLSearchParams {
  const q = new URLSearchParams({ model, encoding: 'linear16', sample_rate: '16000' });
  if (s.eotThreshold !== undefined) q.set('eot_threshold', String(s.eotThreshold));
  if (s.eagerEotThreshold !== undefined) q.set('eager_eot_threshold', String(s.eagerEotThreshold));
  if (s.eotTimeoutMs !== undefined) q.set('eot_timeout_ms', String(s.eotTimeoutMs));
  for (const k of s.keyterms ?? []) q.append('keyterm', k);
  for (const [k, v] of Object.entries(extra)) q.set(k, String(v));
  return q;
}

function checkTurnSettings(owner: string, s: FluxTurnSettings): void {
  const range = (name: string, v: number | undefined, lo: number, hi: number) => {
    if (v !== undefined && !(typeof v === 'number' && v >= lo && v <= hi)) throw new ConfigError(`${owner}: ${name} must be between ${lo} and ${hi}, not ${String(v)}`);
  };
  range('eotThreshold', s.eotThreshold, 0.5, 1);
  range('eagerEotThreshold', s.eagerEotThreshold, 0.3, 0.9);
  range('eotTimeoutMs', s.eotTimeoutMs, 500, 60_000);
  if (s.eagerEotThreshold !== undefined && s.eagerEotThreshold > (s.eotThreshold ?? 0.7)) throw new ConfigError(`${owner}: eagerEotThreshold must not exceed eotThreshold (${s.eotThreshold ?? 0.7})`);
}

/** Maps one Deepgram Flux (`/v2/listen`) message to voxline events. */
export function parseFlux(msg: Record<string, unknown>, provider = 'deepgram-flux'): { events: SttEvent[]; ackedTo?: number; error?: ProviderError; openTurn?: Extract<SttEvent, { type: 'final' }> | null } {
  switch (msg.type) {
    case 'TurnInfo': {
      const t = msg as unknown as DeepgramFluxTurnInfoWire;
      if (typeof t.event !== 'string' || typeof t.transcript !== 'string' || typeof t.audio_window_start !== 'number' || typeof t.audio_window_end !== 'number') {
        throw new ProtocolError(`${provider} sent a TurnInfo without event, transcript or audio window`, { provider });
      }
      const start = t.audio_window_start;
      const end = t.audio_window_end;
      const words: SttWord[] = (Array.isArray(t.words) ? t.words : []).map((w) => ({ word: String(w.word), start: w.start ?? start, end: w.end ?? end, confidence: w.confidence }));
      const text = t.transcript;
      const interim: SttEvent[] = text ? [{ type: 'interim', text, words }] : [];
      // CloseStream ends no turn: the turn's latest transcript stands as its final if the stream ends now.
      const openTurn = text ? { type: 'final' as const, text, words, endOfTurn: true, start, end } : null;
      switch (t.event) {
        case 'StartOfTurn':
          return { events: [{ type: 'speech_started', timestamp: words[0]?.start ?? start, turnStart: true }, ...interim], openTurn };
        case 'Update':
          return { events: interim, openTurn };
        case 'EagerEndOfTurn':
          return { events: [{ type: 'eager_end_of_turn', text, words, start, end }], openTurn };
        case 'TurnResumed':
          return { events: [{ type: 'turn_resumed' }, ...interim], openTurn };
        case 'EndOfTurn':
          return { events: [{ type: 'final', text, words, endOfTurn: true, start, end }], ackedTo: end, openTurn: null };
        default:
          // An open enum: events added later are ignored.
          return { events: [] };
      }
    }
    case 'Error':
      return { events: [], error: new ProviderError(`${provider} error ${String(msg.code ?? '')}: ${String(msg.description ?? '')}`.trim(), { provider }) };
    default:
      // Connected, and message types added later.
      return { events: [] };
  }
}
