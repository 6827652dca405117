import { describe, expect, it } from 'vitest';
import {
  CartesiaTts, ConfigError, DeepgramAuraTts, DeepgramFluxStt, DeepgramStt, ElevenLabsTts, GatewayStt, GatewayTts, OpenAiLlm, OpenAiRealtime, OpenAiTts,
  VoiceSession, gateway,
} from '../../src/index';
import { TextSession } from '../../src/testing/index';

// Plain JavaScript (or an object typed loosely) gets no compiler check: a misspelt option name
// must fail at construction, not be ignored, and a number out of its range likewise.
const stages = () => ({
  stt: new DeepgramStt({ apiKey: 'k' }),
  llm: new OpenAiLlm({ apiKey: 'k', model: 'm' }),
  tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v' }),
});
/** Constructs with options given as plain JavaScript would. */
const loose = <T>(make: (o: never) => T, o: Record<string, unknown>) => () => make(o as never);

describe('unknown option names', () => {
  it('VoiceSession refuses `hangupPhrases`, naming the option it meant', () => {
    expect(loose((o) => new VoiceSession(o), { ...stages(), hangupPhrases: ['bye'] })).toThrow(new ConfigError('VoiceSession: unknown option `hangupPhrases`: did you mean `hangUpPhrases`?'));
    expect(loose((o) => new VoiceSession(o), { ...stages(), instruction: 'Be brief.' })).toThrow('VoiceSession: unknown option `instruction`: did you mean `instructions`?');
    expect(loose((o) => new VoiceSession(o), { ...stages(), system_prompt: 'Be brief.' })).toThrow(/^VoiceSession: unknown option `system_prompt` \(known: stt, llm, tts, instructions, /);
    // A name whose value is undefined is let through; so are the realtime session's options.
    expect(loose((o) => new OpenAiLlm(o), { apiKey: 'k', model: 'm', reasoning_effort: 'low' })).toThrow(/^OpenAiLlm: unknown option `reasoning_effort` \(other request body fields go in `extraBody`\) \(known: model, /);
    expect(loose((o) => new VoiceSession(o), { ...stages(), hangupPhrases: undefined })).not.toThrow();
    expect(() => new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k' }), sayInstructions: (text) => `Say exactly: ${text}`, hangUpPhrases: ['bye'] })).not.toThrow();
  });

  it('TextSession refuses them too', () => {
    expect(loose((o) => new TextSession(o), { llm: stages().llm, hangupPhrases: ['bye'] })).toThrow(new ConfigError('TextSession: unknown option `hangupPhrases`: did you mean `hangUpPhrases`?'));
  });

  it.each([
    ['DeepgramStt', (o: never) => new DeepgramStt({ apiKey: 'k', ...(o as object) }), { interim_results: true }, 'interimResults'],
    ['DeepgramFluxStt', (o: never) => new DeepgramFluxStt({ apiKey: 'k', ...(o as object) }), { eotTreshold: 0.8 }, 'eotThreshold'],
    ['GatewayStt', (o: never) => new GatewayStt({ apiKey: 'k', model: 'm', ...(o as object) }), { maxReconnect: 2 }, 'maxReconnects'],
    ['OpenAiLlm', (o: never) => new OpenAiLlm({ apiKey: 'k', model: 'm', ...(o as object) }), { max_tokens: 100 }, 'maxTokens'],
    ['ElevenLabsTts', (o: never) => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', ...(o as object) }), { voiceID: 'x' }, 'voiceId'],
    ['CartesiaTts', (o: never) => new CartesiaTts({ apiKey: 'k', voiceId: 'v', ...(o as object) }), { voice: 'x' }, 'voiceId'],
    ['DeepgramAuraTts', (o: never) => new DeepgramAuraTts({ apiKey: 'k', ...(o as object) }), { sample_rate: 24000 }, 'sampleRate'],
    ['OpenAiTts', (o: never) => new OpenAiTts({ apiKey: 'k', ...(o as object) }), { voices: 'alloy' }, 'voice'],
    ['GatewayTts', (o: never) => new GatewayTts({ apiKey: 'k', model: 'm', ...(o as object) }), { Voice: 'rachel' }, 'voice'],
    ['OpenAiRealtime', (o: never) => new OpenAiRealtime({ apiKey: 'k', ...(o as object) }), { turn_detection: 'semantic_vad' }, 'turnDetection'],
    ['gateway()', (o: never) => gateway({ apiKey: 'k', ...(o as object) }), { tags: 'x' }, 'tag'],
  ] as [string, (o: never) => unknown, Record<string, unknown>, string][])('%s refuses a misspelt option with the name it meant', (owner, make, bad, meant) => {
    const key = Object.keys(bad)[0]!;
    expect(loose(make, bad)).toThrow(new ConfigError(`${owner}: unknown option \`${key}\`: did you mean \`${meant}\`?`));
  });

  it('gateway() passes its stages their own options, and refuses names none of them knows', () => {
    const aig = gateway({ apiKey: 'k' });
    expect(() => aig.stt('deepgram/nova-3', { realtime: true, encoding: 'mulaw', sampleRate: 8000 })).not.toThrow();
    expect(() => aig.stt('deepgram/nova-3', { maxReconnects: 1 })).not.toThrow();
    expect(() => aig.stt('deepgram/nova-3', { encoding: 'mulaw', keepAliveMs: 100 })).not.toThrow(); // Deepgram's own: used with realtime only
    expect(loose((o) => aig.stt('deepgram/nova-3', o), { interim_results: true })).toThrow(new ConfigError('gateway().stt(): unknown option `interim_results`: did you mean `interimResults`?'));
    expect(() => aig.llm('moonshot/kimi-k2.6', { temperature: 0.5, instructions: 'Be brief.' })).not.toThrow();
    expect(loose((o) => aig.llm('m', o), { temprature: 0.5 })).toThrow('OpenAiLlm: unknown option `temprature`: did you mean `temperature`?');
    expect(loose((o) => aig.tts('m', o), { voiceId: 'rachel' })).toThrow('gateway().tts(): unknown option `voiceId`: did you mean `voice`?');
  });
});

describe('numbers out of their range', () => {
  it('OpenAiLlm temperature is 0 to 2', () => {
    expect(() => new OpenAiLlm({ apiKey: 'k', model: 'm', temperature: 7 })).toThrow(new ConfigError('OpenAiLlm: temperature must be a number from 0 to 2 (got 7)'));
    expect(() => new OpenAiLlm({ apiKey: 'k', model: 'm', temperature: -0.1 })).toThrow(ConfigError);
    expect(loose((o) => new OpenAiLlm(o), { apiKey: 'k', model: 'm', temperature: '0.7' })).toThrow('OpenAiLlm: temperature must be a number from 0 to 2 (got "0.7")');
    for (const t of [0, 0.7, 2]) expect(() => new OpenAiLlm({ apiKey: 'k', model: 'm', temperature: t })).not.toThrow();
    expect(() => new OpenAiLlm({ apiKey: 'k', model: 'm', maxTokens: 0 })).toThrow('OpenAiLlm: maxTokens must be a whole number of tokens, 1 or more (got 0)');
  });

  it('ElevenLabs voice settings and Cartesia generation settings keep to the providers\' ranges', () => {
    expect(() => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', voiceSettings: { stability: 3 } })).toThrow(new ConfigError('ElevenLabsTts: voiceSettings.stability must be a number from 0 to 1 (got 3)'));
    expect(() => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', voiceSettings: { speed: 2 } })).toThrow('ElevenLabsTts: voiceSettings.speed must be a number from 0.7 to 1.2 (got 2)');
    expect(() => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', voiceSettings: { stability: 0.5, similarity_boost: 1, style: 0, speed: 1.2 } })).not.toThrow();
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', generationConfig: { speed: 3 } })).toThrow(new ConfigError('CartesiaTts: generationConfig.speed must be a number from 0.6 to 1.5 (got 3)'));
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', generationConfig: { volume: 0.1 } })).toThrow(/generationConfig.volume must be a number from 0.5 to 2/);
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', generationConfig: { speed: 1.5, volume: 2 } })).not.toThrow();
  });
});
