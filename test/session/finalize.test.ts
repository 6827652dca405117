import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, EnergyVad, OpenAiLlm, VoiceSession, toneSynthesizer } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller } from '../../src/testing/index';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

describe('VoiceSession with a local VAD', () => {
  it('sends Deepgram Finalize when the VAD hears the end of speech, and the turn is answered', async () => {
    // Deepgram's own endpoint comes late (600 ms of silence): the Finalize gets the final sooner.
    const dg = new DeepgramEmulator({ script: ['Hello there'], finalDelayMs: 600 });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 30, tokensPerSecond: 200 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 10 }), timeToFirstAudioMs: 30, realtimeFactor: 0.2 });
    emus.push(dg, oa, el);
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      vad: new EnergyVad(),
    });
    const caller = new ScriptedCaller({ lines: ['Hello there'], synthesizer: toneSynthesizer({ msPerChar: 45 }) });
    await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000 }) });
    const sent = dg.record.messages.map((m) => m.type);
    expect(sent).toContain('Finalize');
    expect(sent.indexOf('Finalize')).toBeLessThan(sent.indexOf('CloseStream'));
    expect(session.history.slice(0, 2)).toEqual([{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: 'Hello! How can I help you today?' }]);
  });
});
