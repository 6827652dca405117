import { ConfigError } from './errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from './provider';
import { DEEPGRAM_STT_OPTIONS, GATEWAY_OPTIONS, GATEWAY_STT_OPTIONS } from './option-names';
import { OpenAiLlm, type OpenAiLlmOptions } from './llm/openai';
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
  /** A tag sent as `x-aig-tag` with every LLM request, for cost tracking. */
  tag?: string | undefined;
}

/** Factories for the three stages on the unified gateway, all with one key. */
export interface Gateway {
  /**
   * Streaming STT. By default the `/audio/transcriptions/stream` endpoint; with `realtime: true`
   * the Deepgram-shaped `/realtime` endpoint (all of Deepgram's options apply).
   */
  stt(model: string, options?: WsSttOptions & { realtime?: boolean | undefined } & Omit<Partial<DeepgramSttOptions>, 'apiKey' | 'baseURL' | 'path' | 'model'>): GatewayStt | DeepgramStt;
  /** An OpenAI-compatible chat model on the gateway. */
  llm(model: string, options?: Omit<OpenAiLlmOptions, 'model' | 'apiKey' | 'baseURL' | 'client'>): OpenAiLlm;
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
  return {
    stt: (model, o = {}) => {
      checkOptionNames('gateway().stt()', o, { ...DEEPGRAM_STT_OPTIONS, realtime: true });
      const { realtime, ...rest } = o;
      if (realtime) return new DeepgramStt({ ...rest, apiKey, model, baseURL, path: '/realtime', authScheme: 'bearer', provider: 'gateway' });
      // The stream endpoint takes the WebSocket options; Deepgram's own (`encoding`, `keepAliveMs`...) apply with `realtime` only.
      const own = Object.fromEntries(Object.entries(rest).filter(([k]) => Object.hasOwn(GATEWAY_STT_OPTIONS, k)));
      return new GatewayStt({ ...own, apiKey, model, baseURL });
    },
    llm: (model, o = {}) =>
      new OpenAiLlm({ ...o, model, apiKey, baseURL, provider: o.provider ?? 'gateway', headers: { ...(options.tag ? { 'x-aig-tag': options.tag } : {}), ...o.headers } }),
    tts: (model, o = {}) => {
      checkOptionNames('gateway().tts()', o, { voice: true });
      return new GatewayTts({ apiKey, model, voice: o.voice, baseURL });
    },
  };
}
