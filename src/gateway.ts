import { ConfigError } from './errors';
import { checkApiKey, checkBaseURL } from './provider';
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
  stt(model: string, options?: WsSttOptions & { realtime?: boolean } & Omit<Partial<DeepgramSttOptions>, 'apiKey' | 'baseURL' | 'path' | 'model'>): GatewayStt | DeepgramStt;
  /** An OpenAI-compatible chat model on the gateway. */
  llm(model: string, options?: Omit<OpenAiLlmOptions, 'model' | 'apiKey' | 'baseURL' | 'client'>): OpenAiLlm;
  /** Streaming TTS. */
  tts(model: string, options?: { voice?: string }): GatewayTts;
}

/** One key, three modalities: `gateway({ apiKey }).stt(...)`, `.llm(...)`, `.tts(...)`. */
export function gateway(options: GatewayOptions = {}): Gateway {
  const apiKey = options.apiKey ?? process.env.AIGATEWAY_API_KEY;
  if (!apiKey) throw new ConfigError('gateway() needs an apiKey (or the AIGATEWAY_API_KEY environment variable)');
  checkApiKey('gateway()', apiKey);
  const baseURL = checkBaseURL('gateway()', options, 'https://api.aigateway.sh/v1', 'http');
  return {
    stt: (model, o = {}) =>
      o.realtime
        ? new DeepgramStt({ ...o, apiKey, model, baseURL, path: '/realtime', authScheme: 'bearer', provider: 'gateway' })
        : new GatewayStt({ ...o, apiKey, model, baseURL }),
    llm: (model, o = {}) =>
      new OpenAiLlm({ ...o, model, apiKey, baseURL, provider: o.provider ?? 'gateway', headers: { ...(options.tag ? { 'x-aig-tag': options.tag } : {}), ...o.headers } }),
    tts: (model, o = {}) => new GatewayTts({ apiKey, model, voice: o.voice, baseURL }),
  };
}
