import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, ProviderError, fallback, toneSynthesizer, type SttEvent } from '../src/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../src/testing/index';
import { collect, paced, sleep, utteranceFrames } from './helpers';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });
async function up<T extends { start(): Promise<string>; close(): Promise<void> }>(e: T): Promise<T> { emus.push(e); await e.start(); return e; }

describe('fallback chains', () => {
  it('LLM: switches on a retryable failure before the first token, and goes back after the cool-down', async () => {
    const a = await up(new OpenAiEmulator({ timeToFirstTokenMs: 5 }));
    const b = await up(new OpenAiEmulator({ timeToFirstTokenMs: 5, responder: () => ({ content: 'From the backup.' }) }));
    const llm = fallback([new OpenAiLlm({ apiKey: 'k', baseURL: a.baseURL, model: 'a', maxRetries: 0, provider: 'primary' }), new OpenAiLlm({ apiKey: 'k', baseURL: b.baseURL, model: 'b', provider: 'backup' })], { cooldownMs: 200 });
    const switches: unknown[] = [];
    llm.on('switch', (s) => switches.push(s));
    a.inject({ refuse: { count: 1, status: 503 } });
    const text = (await collect(llm.respond([{ role: 'user', content: 'hi' }]))).filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('');
    expect(text).toBe('From the backup.');
    expect(switches[0]).toMatchObject({ from: 'primary', to: 'backup' });
    expect((switches[0] as { error: unknown }).error).toBeInstanceOf(ProviderError);
    expect(llm.provider).toBe('backup');
    await sleep(250);
    const again = (await collect(llm.respond([{ role: 'user', content: 'hi' }]))).filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('');
    expect(again).toBe('Hello! How can I help you today?');
    expect(switches[1]).toEqual({ from: 'backup', to: 'primary' });
  });

  it('LLM: a non-retryable error does not switch', async () => {
    const a = await up(new OpenAiEmulator({ apiKey: 'right' }));
    const b = await up(new OpenAiEmulator());
    const llm = fallback([new OpenAiLlm({ apiKey: 'wrong', baseURL: a.baseURL, model: 'a' }), new OpenAiLlm({ apiKey: 'k', baseURL: b.baseURL, model: 'b' })]);
    await expect(collect(llm.respond([{ role: 'user', content: 'hi' }]))).rejects.toMatchObject({ code: 'auth_error' });
    expect(b.record.bodies.length).toBe(0);
  });

  it('TTS: the text not yet spoken goes to the next provider when one drops mid-sentence', async () => {
    const a = await up(new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 }));
    const b = await up(new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 }));
    const tts = fallback([new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: a.baseURL, outputFormat: 'pcm_16000', maxReconnects: 0 }), new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: b.baseURL, outputFormat: 'pcm_16000' })]);
    const switches: unknown[] = [];
    tts.on('switch', (s) => switches.push(s));
    a.inject({ closeMidStream: { afterMessages: 3, code: 1011 } });
    const text = ['The first sentence is long enough to be cut off in the middle.', 'And a second one follows it.'];
    const frames = await collect(tts.synthesize((async function* () { for (const t of text) { yield t; await sleep(5); } })()));
    const spoken = frames.flatMap((f) => f.alignment?.chars ?? []).join('').replace(/\s+/g, ' ').trim();
    expect(spoken).toBe(text.join(' '));
    expect(switches.length).toBe(1);
    const sentToB = b.record.messages.filter((m) => typeof m.text === 'string' && (m.text as string).trim()).map((m) => (m.text as string).trim());
    expect(text[0]!.endsWith(sentToB[0]!.split('And a second')[0]!.trim())).toBe(true);
    await tts.close();
  });

  it('STT: the audio since the last final is replayed to the next provider; nothing is lost', async () => {
    const a = await up(new DeepgramEmulator({ script: ['first words', 'second words'] }));
    const b = await up(new DeepgramEmulator({ script: ['second words'] }));
    const stt = fallback([new DeepgramStt({ apiKey: 'k', baseURL: a.baseURL, maxReconnects: 0, provider: 'primary' }), new DeepgramStt({ apiKey: 'k', baseURL: b.baseURL, provider: 'backup' })]);
    a.inject({ closeMidStream: { afterMs: 1900, code: 1011, reason: 'NET-0000' } });
    const events = await collect(stt.transcribe(paced([...(await utteranceFrames(800, 200, 700)), ...(await utteranceFrames(1000, 0, 600))])));
    const finals = events.filter((e): e is Extract<SttEvent, { type: 'final' }> => e.type === 'final');
    expect(finals.map((f) => f.text)).toEqual(['first words', 'second words']);
    expect(finals[1]!.words[0]!.start).toBeCloseTo(1.7, 1); // times continue across providers
    expect(b.record.audioBytes).toBeLessThan(a.record.audioBytes + 2 * 16000 * 2);
  }, 20_000);
});
