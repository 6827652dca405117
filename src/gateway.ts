import { BudgetExceededError, ConfigError, ProviderError } from './errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from './provider';
import { DEEPGRAM_STT_OPTIONS, GATEWAY_OPTIONS, GATEWAY_STT_OPTIONS } from './option-names';
import { OpenAiLlm, type OpenAiLlmOptions } from './llm/openai';
import type { ChatMessage, LlmEvent, RespondOptions } from './llm/types';
import { DeepgramStt, type DeepgramSttOptions } from './stt/deepgram';
import { GatewayStt } from './stt/gateway';
import type { WsSttOptions } from './stt/ws-transcription';
import { GatewayTts } from './tts/gateway';

/** Options of {@link gateway}. */
export interface GatewayOptions {
  /** The one key for every modality (default: `process.env.AIGATEWAY_API_KEY`). */
  apiKey?: string | undefined;
  /** Base URL: scheme, host and path up to the API version (default `https://api.aigateway.sh/v1`). */
  baseURL?: string | undefined;
  /**
   * A tag sent as `x-aig-tag` with every LLM request, for cost tracking (at most 64 characters):
   * the gateway aggregates spend per tag, and a hard cap set for the tag (`POST /v1/budgets`)
   * refuses requests past it with a {@link BudgetExceededError}. `llm(model, { tag })` overrides it
   * for one model, and a request's own `x-aig-tag` header for that request.
   */
  tag?: string | undefined;
}

/** Factories for the three stages on the unified gateway, all with one key. */
export interface Gateway {
  /**
   * Streaming STT. By default the `/audio/transcriptions/stream` endpoint; with `realtime: true`
   * the Deepgram-shaped `/realtime` endpoint (all of Deepgram's options apply).
   */
  stt(model: string, options?: WsSttOptions & { realtime?: boolean | undefined } & Omit<Partial<DeepgramSttOptions>, 'apiKey' | 'baseURL' | 'path' | 'model'>): GatewayStt | DeepgramStt;
  /**
   * An OpenAI-compatible chat model on the gateway. A request refused because a spend cap was
   * reached (HTTP 402) throws a {@link BudgetExceededError}, which ends a `VoiceSession`'s call with
   * a spoken line.
   */
  llm(model: string, options?: Omit<OpenAiLlmOptions, 'model' | 'apiKey' | 'baseURL' | 'client'> & { tag?: string | undefined }): OpenAiLlm;
  /** Streaming TTS. */
  tts(model: string, options?: { voice?: string | undefined }): GatewayTts;
}

/** One key, three modalities: `gateway({ apiKey }).stt(...)`, `.llm(...)`, `.tts(...)`. */
export function gateway(options: GatewayOptions = {}): Gateway {
  const apiKey = options.apiKey ?? process.env.AIGATEWAY_API_KEY;
  if (!apiKey) throw new ConfigError('gateway() needs an apiKey (or the AIGATEWAY_API_KEY environment variable)');
  checkApiKey('gateway()', apiKey);
  const baseURL = checkBaseURL('gateway()', options, 'https://api.aigateway.sh/v1', 'http');
  checkOptionNames('gateway()', options, GATEWAY_OPTIONS);
  checkTag(options.tag);
  return {
    stt: (model, o = {}) => {
      checkOptionNames('gateway().stt()', o, { ...DEEPGRAM_STT_OPTIONS, realtime: true });
      const { realtime, ...rest } = o;
      if (realtime) return new DeepgramStt({ ...rest, apiKey, model, baseURL, path: '/realtime', authScheme: 'bearer', provider: 'gateway' });
      // The stream endpoint takes the WebSocket options; Deepgram's own (`encoding`, `keepAliveMs`...) apply with `realtime` only.
      const own = Object.fromEntries(Object.entries(rest).filter(([k]) => Object.hasOwn(GATEWAY_STT_OPTIONS, k)));
      return new GatewayStt({ ...own, apiKey, model, baseURL });
    },
    llm: (model, { tag = options.tag, ...o } = {}) => {
      checkTag(tag);
      const headers = { ...(tag ? { 'x-aig-tag': tag } : {}), ...o.headers };
      return new GatewayLlm({ ...o, model, apiKey, baseURL, provider: o.provider ?? 'gateway', headers }, tagIn(headers));
    },
    tts: (model, o = {}) => {
      checkOptionNames('gateway().tts()', o, { voice: true });
      return new GatewayTts({ apiKey, model, voice: o.voice, baseURL });
    },
  };
}

/** The gateway takes tags of at most 64 characters (its OpenAPI description); an empty tag is no tag. */
function checkTag(tag: string | undefined): void {
  if (tag === undefined || tag === '') return;
  // eslint-disable-next-line no-control-regex
  if (typeof tag !== 'string' || !/^[^\x00-\x1f\x7f]{1,64}$/.test(tag)) throw new ConfigError(`gateway() tag must be at most 64 characters, without control characters (got ${JSON.stringify(String(tag).slice(0, 80))})`);
}

/** The `x-aig-tag` among `headers` (any case; the last one wins, as a later header overrides). */
function tagIn(headers: Record<string, string> | undefined): string | undefined {
  return Object.entries(headers ?? {}).findLast(([k]) => k.toLowerCase() === 'x-aig-tag')?.[1];
}

/** The gateway's chat model: a 402 answer (a spend cap reached) is a {@link BudgetExceededError}. */
class GatewayLlm extends OpenAiLlm {
  readonly #tag: string | undefined;

  constructor(options: OpenAiLlmOptions, tag: string | undefined) {
    super(options);
    this.#tag = tag;
  }

  override async *respond(history: readonly ChatMessage[], options: RespondOptions = {}): AsyncGenerator<LlmEvent> {
    try {
      yield* super.respond(history, options);
    } catch (err) {
      if (!(err instanceof ProviderError) || err.status !== 402 || err instanceof BudgetExceededError) throw err;
      const tag = tagIn(options.headers) ?? this.#tag;
      throw new BudgetExceededError(`${err.provider ?? 'gateway'}: spend cap reached${tag ? ` for tag '${tag}'` : ''} (HTTP 402 budget_exceeded): ${err.message.replace(/^.*?\(HTTP 402\): /, '')}`, { provider: err.provider, status: 402, tag, cause: err });
    }
  }
}
