import { type Span, type SpanOptions, type Tracer, type TracerProvider, trace, context as otelContext, type Context } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, DeepgramStt, ElevenLabsTts, OpenAiLlm, toneSynthesizer } from '../../src/index';
import { createVoiceServer } from '../../src/server/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../../src/testing/index';
import { browserCall } from './call-client';

/** A tracer provider that records span names, parents and times, standing in for an SDK. */
const recorded: { name: string; parent?: string; start: number; end?: number; attributes?: SpanOptions['attributes'] }[] = [];
const provider: TracerProvider = {
  getTracer: (): Tracer => ({
    startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
      const parent = ctx ? (trace.getSpan(ctx) as unknown as { name?: string } | undefined)?.name : undefined;
      const rec = { name, parent, start: Number(options?.startTime instanceof Date ? options.startTime.getTime() : Date.now()) as number, end: undefined as number | undefined, attributes: options?.attributes };
      recorded.push(rec);
      const span = {
        name,
        spanContext: () => ({ traceId: '0'.repeat(32), spanId: String(recorded.length).padStart(16, '0'), traceFlags: 1 }),
        setAttribute: () => span, setAttributes: () => span, addEvent: () => span, addLink: () => span, addLinks: () => span,
        setStatus: () => span, updateName: () => span, isRecording: () => true, recordException: () => {},
        end: (t?: Date | number) => { rec.end = t instanceof Date ? t.getTime() : Date.now(); },
      };
      return span as unknown as Span;
    },
    startActiveSpan: (() => { throw new Error('not used'); }) as Tracer['startActiveSpan'],
  }),
};
trace.setGlobalTracerProvider(provider);
afterAll(() => trace.disable());
void otelContext;

describe('OpenTelemetry', () => {
  it('records a span per call and per turn, with STT, LLM and TTS child spans', async () => {
    const dg = new DeepgramEmulator({ script: ['check my order please'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 100 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 60 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const vs = createVoiceServer({
      browser: { public: true },
      agent: () => ({
        stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      }),
    });
    const port = await vs.listen(0, '127.0.0.1');
    await browserCall(`ws://127.0.0.1:${port}/browser`);
    for (let i = 0; i < 60 && vs.activeCalls > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await vs.drain();
    await Promise.all([dg.close(), oa.close(), el.close()]);
    expect(recorded.map((s) => [s.name, s.parent])).toEqual([['voxline.call', undefined], ['voxline.turn', 'voxline.call'], ['stt', 'voxline.turn'], ['llm', 'voxline.turn'], ['tts', 'voxline.turn']]);
    const by = Object.fromEntries(recorded.map((s) => [s.name, s.end! - s.start]));
    expect(by.llm).toBeGreaterThanOrEqual(95);
    expect(by.tts).toBeGreaterThanOrEqual(55);
    expect(recorded.every((s) => s.end !== undefined)).toBe(true);
    expect(recorded.find((s) => s.name === 'voxline.turn')!.attributes).toEqual({ 'voxline.turn': 1 });
  }, 30_000);

  it("names the agent that answered on each turn's span", async () => {
    recorded.length = 0;
    const dg = new DeepgramEmulator({ script: ['check my order please'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 10 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const vs = createVoiceServer({
      browser: { public: true },
      agent: () => ({
        stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
        agent: new Agent({ name: 'orders', instructions: 'You are the order desk.' }),
      }),
    });
    const port = await vs.listen(0, '127.0.0.1');
    await browserCall(`ws://127.0.0.1:${port}/browser`);
    for (let i = 0; i < 60 && vs.activeCalls > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await vs.drain();
    await Promise.all([dg.close(), oa.close(), el.close()]);
    expect(recorded.find((s) => s.name === 'voxline.turn')!.attributes).toEqual({ 'voxline.turn': 1, 'voxline.agent': 'orders' });
  }, 30_000);
});
