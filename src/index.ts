/**
 * `voxline`: real-time voice agents. The session, the providers of each stage, their base
 * classes, tools, audio helpers and typed errors. Adapters are in `voxline/adapters`, the server
 * in `voxline/server`, emulators and test helpers in `voxline/testing`.
 * @module
 */

// Every public type, then every public value (helpers that only voxline's own modules use stay
// internal: a new public class or function must be added here).
export type { ErrorCode, VoxlineErrorOptions } from './errors';
export type { AudioFrame } from './audio/frame';
export type { SileroVadOptions, OrtSessionOptions, OrtTensor, OrtSession, Ort } from './audio/silero';
export type { VadEvent, Vad, EnergyVadOptions } from './audio/vad';
export type { WavAudio } from './audio/wav';
export type { Clock } from './streams/clock';
export type { FluxTurnSettings, DeepgramFluxSttOptions, FluxTranscription } from './stt/deepgram-flux';
export type { DeepgramSttOptions } from './stt/deepgram';
export type { GatewaySttOptions } from './stt/gateway';
export type { SttWord, SttEvent, TranscribeOptions, Transcription } from './stt/types';
export type { WsSttOptions } from './stt/ws-transcription';
export type { ToolHooks, ToolHookContext, BeforeToolCallResult, LoopEvent, ToolLoopOptions } from './llm/loop';
export type { OpenAiLlmOptions } from './llm/openai';
export type { JsonSchema } from './llm/schema';
export type { ToolContext, Tool, ToolOutcome } from './llm/tools';
export type { StandardToolDefinition } from './llm/tools';
export type { StandardJSONSchemaV1, StandardSchemaV1, StandardToolSchema, StandardTypedV1 } from './llm/standard-schema';
export type { ChatMessage, ToolCall, LlmUsage, LlmEvent, ToolSpec, RespondOptions } from './llm/types';
export type { AuraWarning, DeepgramAuraTtsOptions } from './tts/aura';
export type { CartesiaSampleRate, CartesiaGenerationConfig, CartesiaTtsOptions } from './tts/cartesia';
export type { ChunkerOptions } from './tts/chunker';
export type { VoiceSettings, ElevenLabsTtsOptions } from './tts/elevenlabs';
export type { GatewayTtsOptions } from './tts/gateway';
export type { LocalTtsOptions } from './tts/local';
export type { OpenAiTtsOptions } from './tts/openai';
export type { Synthesizer, EspeakOptions } from './tts/speech';
export type { Alignment, TtsFrame, SynthesizeOptions } from './tts/types';
export type { GatewayOptions, Gateway } from './gateway';
export type { TurnTimestamps, TurnLatency, Percentiles, PriceTable, Usage } from './session/metrics';
export type { TurnEndPolicy, BargeInOptions, VoiceSessionOptions, RealtimeSessionOptions, TurnEvent, PreemptionReport, TranscriptEntry, VoiceSessionEvents } from './session/types';
export type { AudioOutput, AudioInput } from './adapters/types';
export type { FallbackOptions, FallbackSwitch, FallbackEvents } from './fallback';
export type { OpenAiRealtimeOptions } from './realtime/openai';
export type { RealtimeUsage, RealtimeEvent, RealtimeConnectConfig, RealtimeConnection, RealtimeModel } from './realtime/types';

export { AbortError, AudioFormatError, AuthError, BudgetExceededError, ConfigError, DeviceError, ProtocolError, ProviderError, TimeoutError, ToolError, VoxlineError, isAbortError, redact, registerSecret } from './errors';

export { FrameSplitter, SUPPORTED_RATES, floatToInt16, frameDurationMs, frameFromBytes, frameToBytes, int16ToFloat, rms, silence, splitFrames } from './audio/frame';
export { readWav, writeWav } from './audio/wav';
export { Resampler, resample, resampleStream } from './audio/resample';
export { decodeMulaw, encodeMulaw } from './audio/mulaw';
export { EnergyVad } from './audio/vad';
export { SileroVad, sileroVad } from './audio/silero';
export { merge } from './streams/channel';
export { realClock } from './streams/clock';

export { SttStream } from './stt/types';
export { DeepgramStt } from './stt/deepgram';
export { DeepgramFluxStt } from './stt/deepgram-flux';
export { GatewayStt } from './stt/gateway';

export { LlmStream, textOf } from './llm/types';
export { tool } from './llm/tools';
export { OpenAiLlm } from './llm/openai';
export { runToolLoop } from './llm/loop';

export { TtsStream } from './tts/types';
export { SentenceChunker, sentences } from './tts/chunker';
export { defaultSynthesizer, espeakSynthesizer, toneSynthesizer, type DefaultSynthesizerOptions } from './tts/speech';
export { ElevenLabsTts } from './tts/elevenlabs';
export { GatewayTts } from './tts/gateway';
export { LocalTts } from './tts/local';
export { DeepgramAuraTts } from './tts/aura';
export { OpenAiTts } from './tts/openai';
export { CartesiaTts } from './tts/cartesia';

export { gateway } from './gateway';
export { VoiceSession } from './session/session';
export { SessionMetrics, costOf, percentiles } from './session/metrics';
export { FallbackLlm, FallbackStt, FallbackTts, fallback } from './fallback';
export { OpenAiRealtime, OpenAiRealtimeConnection, REALTIME_RATE } from './realtime/openai';
export type { AgentOptions, HandoffOptions, HandoffInfo } from './session/agent';
export { Agent, CARRY_HISTORY_TIMEOUT_MS, Handoff, MAX_HANDOFFS_PER_TURN, handoff } from './session/agent';
export type { RealtimeUpdate } from './realtime/types';
