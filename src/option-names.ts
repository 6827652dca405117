/**
 * The option names of the public constructors, checked against their interfaces by the compiler
 * (a `Record` over `keyof` each options interface: a name added to an interface must be added
 * here), for {@link checkOptionNames}. Type-only imports: no module is loaded by this one.
 */
import type { GatewayOptions } from './gateway';
import type { AgentOptions } from './session/agent';
import type { OpenAiLlmOptions } from './llm/openai';
import type { OpenAiRealtimeOptions } from './realtime/openai';
import type { RealtimeSessionOptions, VoiceSessionEvents, VoiceSessionOptions } from './session/types';
import type { DeepgramSttOptions } from './stt/deepgram';
import type { DeepgramFluxSttOptions } from './stt/deepgram-flux';
import type { GatewaySttOptions } from './stt/gateway';
import type { TextSessionOptions } from './testing/text-session';
import type { VoiceServerOptions } from './server/voice-server';
import type { DeepgramAuraTtsOptions } from './tts/aura';
import type { CartesiaTtsOptions } from './tts/cartesia';
import type { ElevenLabsTtsOptions } from './tts/elevenlabs';
import type { GatewayTtsOptions } from './tts/gateway';
import type { OpenAiTtsOptions } from './tts/openai';

/** Every option name of one constructor. */
export type OptionNames<K extends string> = Readonly<Record<K, true>>;

/** The options of `VoiceSession`. */
export const SESSION_OPTIONS: OptionNames<keyof VoiceSessionOptions | keyof RealtimeSessionOptions> = {
  stt: true, llm: true, tts: true, instructions: true, greeting: true, logger: true, tools: true,
  toolHooks: true, maxToolSteps: true, toolFiller: true, hangUpPhrases: true, goodbye: true,
  turnEnd: true, bargeIn: true, historyLimit: true, onProviderError: true, apology: true,
  closeTimeoutMs: true, prices: true, budget: true, chunker: true, vad: true, vadTurnEndMs: true,
  clock: true, speakingRate: true, preemptive: true, realtime: true, sayInstructions: true,
  maxSpeculativeRequests: true, agent: true, firstTokenTimeoutMs: true,
};

/** The options of `TextSession`. */
export const TEXT_SESSION_OPTIONS: OptionNames<keyof TextSessionOptions> = {
  llm: true, stt: true, tts: true, closeTimeoutMs: true, turnEnd: true, vadTurnEndMs: true,
  toolFiller: true, instructions: true, greeting: true, logger: true, tools: true, toolHooks: true,
  maxToolSteps: true, hangUpPhrases: true, goodbye: true, bargeIn: true, historyLimit: true,
  onProviderError: true, apology: true, prices: true, budget: true, chunker: true, vad: true,
  clock: true, speakingRate: true, preemptive: true, maxSpeculativeRequests: true, agent: true,
  firstTokenTimeoutMs: true,
};

/** The options of `DeepgramStt`. */
export const DEEPGRAM_STT_OPTIONS: OptionNames<keyof DeepgramSttOptions> = {
  apiKey: true, model: true, language: true, encoding: true, sampleRate: true,
  interimResults: true, endpointing: true, utteranceEndMs: true, vadEvents: true,
  smartFormat: true, punctuate: true, keyterms: true, query: true, baseURL: true, path: true,
  authScheme: true, provider: true, keepAliveMs: true, maxReconnects: true, connectTimeoutMs: true,
  replayWindowSec: true, closeTimeoutMs: true, stallTimeoutMs: true, quietChunkMs: true,
  quietHoldMs: true, speechChunkMs: true,
};

/** The options of `DeepgramFluxStt`. */
export const DEEPGRAM_FLUX_STT_OPTIONS: OptionNames<keyof DeepgramFluxSttOptions> = {
  apiKey: true, model: true, query: true, baseURL: true, provider: true, eotThreshold: true,
  eagerEotThreshold: true, eotTimeoutMs: true, keyterms: true, maxReconnects: true,
  connectTimeoutMs: true, replayWindowSec: true, closeTimeoutMs: true, stallTimeoutMs: true,
  quietChunkMs: true, quietHoldMs: true, speechChunkMs: true,
};

/** The options of `GatewayStt`. */
export const GATEWAY_STT_OPTIONS: OptionNames<keyof GatewaySttOptions> = {
  apiKey: true, model: true, baseURL: true, maxReconnects: true, connectTimeoutMs: true,
  replayWindowSec: true, closeTimeoutMs: true, stallTimeoutMs: true, quietChunkMs: true,
  quietHoldMs: true, speechChunkMs: true,
};

/** The options of `OpenAiLlm`. */
export const OPENAI_LLM_OPTIONS: OptionNames<keyof OpenAiLlmOptions> = {
  model: true, apiKey: true, baseURL: true, client: true, instructions: true, temperature: true,
  maxTokens: true, maxTokensParam: true, headers: true, maxRetries: true, timeoutMs: true,
  extraBody: true, provider: true, stallTimeoutMs: true, firstTokenTimeoutMs: true,
};

/** The options of `ElevenLabsTts`. */
export const ELEVENLABS_TTS_OPTIONS: OptionNames<keyof ElevenLabsTtsOptions> = {
  apiKey: true, voiceId: true, model: true, outputFormat: true, voiceSettings: true,
  chunkLengthSchedule: true, autoMode: true, syncAlignment: true, inactivityTimeoutSec: true,
  language: true, maxReconnects: true, baseURL: true, stallTimeoutMs: true, multiContext: true,
};

/** The options of `CartesiaTts`. */
export const CARTESIA_TTS_OPTIONS: OptionNames<keyof CartesiaTtsOptions> = {
  apiKey: true, voiceId: true, model: true, encoding: true, sampleRate: true, language: true,
  generationConfig: true, maxBufferDelayMs: true, addTimestamps: true, cartesiaVersion: true,
  baseURL: true, stallTimeoutMs: true, maxReconnects: true, contextIdleMs: true,
};

/** The options of `DeepgramAuraTts`. */
export const DEEPGRAM_AURA_TTS_OPTIONS: OptionNames<keyof DeepgramAuraTtsOptions> = {
  apiKey: true, model: true, encoding: true, sampleRate: true, baseURL: true, stallTimeoutMs: true,
  clearTimeoutMs: true, onWarning: true,
};

/** The options of `OpenAiTts`. */
export const OPENAI_TTS_OPTIONS: OptionNames<keyof OpenAiTtsOptions> = {
  apiKey: true, baseURL: true, client: true, model: true, voice: true, instructions: true,
  speed: true, streamFormat: true, stallTimeoutMs: true,
};

/** The options of `GatewayTts`. */
export const GATEWAY_TTS_OPTIONS: OptionNames<keyof GatewayTtsOptions> = {
  apiKey: true, model: true, voice: true, baseURL: true, stallTimeoutMs: true,
};

/** The options of `OpenAiRealtime`. */
export const OPENAI_REALTIME_OPTIONS: OptionNames<keyof OpenAiRealtimeOptions> = {
  apiKey: true, model: true, baseURL: true, voice: true, turnDetection: true, transcription: true,
  output: true, noiseReduction: true, session: true, connectTimeoutMs: true, maxReconnects: true,
  provider: true, stallTimeoutMs: true,
};

/** The options of `gateway()`. */
export const GATEWAY_OPTIONS: OptionNames<keyof GatewayOptions> = {
  apiKey: true, baseURL: true, tag: true,
};

/** The events `VoiceSession` emits, for the check of the names given to `on()` and `once()`. */
export const SESSION_EVENTS: OptionNames<keyof VoiceSessionEvents> = {
  user_speech_started: true, transcript: true, user_turn: true, turn: true, agent_speech_started: true,
  agent_speech_ended: true, interrupted: true, preemption: true, tool_call: true, tool_result: true,
  usage: true, handoff: true, error: true, closed: true,
};

/** The options of `Agent`. */
export const AGENT_OPTIONS: OptionNames<keyof AgentOptions> = {
  name: true, instructions: true, tools: true, llm: true, tts: true, voice: true, greeting: true,
  toolHooks: true, maxToolSteps: true, carryHistory: true,
};

/** The options of `createVoiceServer`. */
export const VOICE_SERVER_OPTIONS: OptionNames<keyof VoiceServerOptions> = {
  agent: true, maxCalls: true, limits: true, twilio: true, browser: true, webrtc: true, drainTimeoutMs: true,
  closeTimeoutMs: true, handleSignals: true, onCallEnd: true, records: true, registry: true, logger: true,
};
