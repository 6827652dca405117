import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller } from '../../src/testing/index';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

async function call(extra: { logger?: { warn(m: string): void }; listen?: (e: unknown) => void }) {
  const dg = new DeepgramEmulator({ script: ['Hello there'] });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  oa.inject({ refuse: { count: 5, status: 500 } }); // the LLM fails this turn: the session apologises and goes on
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    ...(extra.logger ? { logger: extra.logger } : {}),
  });
  if (extra.listen) session.on('error', extra.listen);
  await session.run({ input: new ScriptedCaller({ lines: ['Hello there'], synthesizer: toneSynthesizer({ msPerChar: 45 }) }).input(session, 600), output: virtualSpeaker() });
}

describe('errors the session recovers from are never lost', () => {
  it('with no error listener they go to the logger option', async () => {
    const warned: string[] = [];
    await call({ logger: { warn: (m) => warned.push(m) } });
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(warned[0]).toMatch(/^voxline: ProviderError \(provider_error, openai\): openai error \(HTTP 500\)/);
  }, 20_000);

  it('an error listener gets them instead, and the logger nothing', async () => {
    const warned: string[] = [];
    const heard: unknown[] = [];
    await call({ logger: { warn: (m) => warned.push(m) }, listen: (e) => heard.push(e) });
    expect(heard.length).toBeGreaterThanOrEqual(1);
    expect(warned).toEqual([]);
  }, 20_000);
});
