import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, AudioFormatError, AuthError, ConfigError, DeepgramStt, ElevenLabsTts, FrameSplitter, OpenAiLlm, ProtocolError, ProviderError, TimeoutError, VoiceSession, VoxlineError, gateway, readWav, toneSynthesizer, writeWav } from '../src/index';
import { BrowserCall, TwilioCall, virtualSpeaker } from '../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, GatewayEmulator, OpenAiEmulator, ScriptedCaller } from '../src/testing/index';
import { collect, sleep, utteranceFrames } from './helpers';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });
async function started<T extends { start(): Promise<string>; close(): Promise<void> }>(...list: T[]): Promise<void> {
  emus.push(...list);
  await Promise.all(list.map((e) => e.start()));
}

describe('stalls become typed timeouts', () => {
  it('LLM: before the first token and between tokens', async () => {
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await started(oa);
    // The first token has its own budget (firstTokenTimeoutMs), the gaps after it the stall budget.
    const llm = new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', stallTimeoutMs: 300, firstTokenTimeoutMs: 300 });
    oa.inject({ stall: { afterMessages: 0 } });
    await expect(collect(llm.respond([{ role: 'user', content: 'hi' }]))).rejects.toBeInstanceOf(TimeoutError);
    oa.inject({ stall: { afterMessages: 3 } });
    const seen: string[] = [];
    const err = await (async () => { for await (const e of llm.respond([{ role: 'user', content: 'tell me a story' }])) if (e.type === 'text') seen.push(e.delta); })().catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.retryable).toBe(true);
    expect(seen.length).toBe(2);
  });

  it('TTS: no audio after text was sent, no reconnection left (with one, a stalled socket is replaced: test/tts/tts.test.ts)', async () => {
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await started(el);
    el.inject({ stall: { afterMessages: 1 } });
    const tts = new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, stallTimeoutMs: 300, maxReconnects: 0 });
    const err = await collect(tts.synthesize((async function* () { yield 'A sentence long enough to need several audio messages.'; })())).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    await tts.close();
  });
});

describe('no leaks', () => {
  const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'FSReqCallback').sort().join(',');

  it('leaves no socket or timer behind after sessions end normally, by abort, by error and by the caller hanging up', async () => {
    await sleep(200); // let the previous tests' servers finish closing
    const baseline = handles();
    const dg = new DeepgramEmulator({ script: ['Hello there'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20, apiKey: 'good' });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const make = (llmKey = 'good') => new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: llmKey, baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      onProviderError: 'close',
    });
    const voice = toneSynthesizer({ msPerChar: 45 });
    // normally
    const a = make();
    await a.run({ input: new ScriptedCaller({ lines: ['Hello there'], synthesizer: voice }).input(a, 300), output: virtualSpeaker() });
    // by abort mid-reply
    const b = make();
    const ac = new AbortController();
    b.on('agent_speech_started', () => ac.abort());
    await b.run({ input: new ScriptedCaller({ lines: ['Hello there'], synthesizer: voice }).input(b, 2000), output: virtualSpeaker(), signal: ac.signal });
    // by a provider error
    const c = make('bad');
    await expect(c.run({ input: new ScriptedCaller({ lines: ['Hello there'], synthesizer: voice }).input(c, 2000), output: virtualSpeaker() })).rejects.toBeInstanceOf(AuthError);
    // by the caller hanging up mid-utterance (the input just ends)
    const d = make();
    await d.run({ input: (async function* () { yield* (await utteranceFrames(400, 100, 0)).slice(0, 12); })(), output: virtualSpeaker() });
    await Promise.all([dg.close(), oa.close(), el.close()]);
    await sleep(100);
    expect(handles()).toBe(baseline);
  }, 30_000);
});

describe('secrets never leak', () => {
  it('keeps a sentinel key out of every error, event, transcript and log line', async () => {
    const SENTINEL = 'sk-SENTINEL-9f8e7d6c5b4a';
    const dg = new DeepgramEmulator({ apiKey: 'other', script: ['hello'] });
    const oa = new OpenAiEmulator({ apiKey: 'other' });
    const el = new ElevenLabsEmulator({ apiKey: 'other', synthesizer: toneSynthesizer() });
    const gw = new GatewayEmulator({ apiKey: 'other', synthesizer: toneSynthesizer() });
    await started<{ start(): Promise<string>; close(): Promise<void> }>(dg, oa, el, gw);
    const logged: unknown[] = [];
    const orig = { log: console.log, error: console.error, warn: console.warn };
    console.log = console.error = console.warn = (...a: unknown[]) => void logged.push(a);
    const caught: unknown[] = [];
    try {
      const aig = gateway({ apiKey: SENTINEL, baseURL: gw.baseURL });
      const attempts = [
        collect(new DeepgramStt({ apiKey: SENTINEL, baseURL: dg.baseURL }).transcribe((async function* () { yield* await utteranceFrames(300); })())),
        collect(aig.stt('deepgram/nova-3').transcribe((async function* () { yield* await utteranceFrames(300); })())),
        collect(aig.stt('deepgram/nova-3', { realtime: true }).transcribe((async function* () { yield* await utteranceFrames(300); })())),
        collect(new OpenAiLlm({ apiKey: SENTINEL, baseURL: oa.baseURL, model: 'm' }).respond([{ role: 'user', content: 'hi' }])),
        collect(aig.llm('m').respond([{ role: 'user', content: 'hi' }])),
        collect(new ElevenLabsTts({ apiKey: SENTINEL, voiceId: 'v', baseURL: el.baseURL }).synthesize((async function* () { yield 'Hi.'; })())),
        collect(aig.tts('m').synthesize((async function* () { yield 'Hi.'; })())),
      ].map((p) => p.catch((e: unknown) => e));
      caught.push(...(await Promise.all(attempts)));
      const session = new VoiceSession({
        stt: new DeepgramStt({ apiKey: 'other', baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: SENTINEL, baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: SENTINEL, voiceId: 'v', baseURL: el.baseURL }),
      });
      const events: unknown[] = [];
      for (const name of ['error', 'transcript', 'turn', 'closed'] as const) session.on(name, (e: unknown) => events.push(e));
      // The refused key ends the call: run() rejects with it.
      caught.push(await session.run({ input: new ScriptedCaller({ lines: ['hello'], synthesizer: toneSynthesizer({ msPerChar: 45 }) }).input(session, 300), output: virtualSpeaker() }).catch((e: unknown) => e));
      caught.push(...events, session.transcript, session.history);
    } finally {
      Object.assign(console, orig);
    }
    const errors = caught.filter((e): e is VoxlineError => e instanceof VoxlineError);
    expect(errors.length).toBeGreaterThanOrEqual(7);
    const dump = (x: unknown): string => (x instanceof Error ? `${x.name}: ${x.message}\n${x.stack}\n${dump((x as { cause?: unknown }).cause)}` : JSON.stringify(x) ?? '');
    const everything = [...caught, ...logged].map(dump).join('\n');
    expect(everything).not.toContain(SENTINEL);
  }, 30_000);
});

describe('bad input is refused with typed errors (fuzzed)', () => {
  const typed = (e: unknown) => e instanceof AudioFormatError || e instanceof ProtocolError;

  it('WAV parser: random bytes and mutated files throw only AudioFormatError', () => {
    const valid = writeWav(Int16Array.from({ length: 64 }, (_, i) => i * 100), 16000);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { readWav(bytes); } catch (e) { expect(e).toBeInstanceOf(AudioFormatError); }
    }));
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(valid.length), (edits, cut) => {
      const b = Buffer.from(valid);
      for (const [i, v] of edits) b[i] = v;
      try { readWav(b.subarray(0, cut)); } catch (e) { expect(e).toBeInstanceOf(AudioFormatError); }
    }));
  });

  it('frame splitter: any chunking keeps every sample in order', () => {
    fc.assert(fc.property(fc.array(fc.nat(700), { maxLength: 30 }), fc.constantFrom(8000, 16000, 24000, 48000), (sizes, rate) => {
      const sp = new FrameSplitter(rate, 20);
      const out: number[] = [];
      let n = 0;
      for (const s of sizes) for (const f of sp.push(Int16Array.from({ length: s }, () => n++ % 30000))) { expect(f.samples.length).toBe(rate / 50); out.push(...f.samples); }
      for (const f of sp.flush()) out.push(...f.samples);
      expect(out.length).toBe(n);
    }));
  });

  const fakeSocket = () => Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, sent: [] as unknown[], send(m: unknown) { this.sent.push(m); }, close() { this.readyState = 3; (this as unknown as EventEmitter).emit('close'); } });
  const message = fc.oneof(
    fc.string(),
    fc.json(),
    fc.record({ event: fc.constantFrom('connected', 'start', 'media', 'mark', 'dtmf', 'stop', 'other'), media: fc.option(fc.record({ payload: fc.oneof(fc.base64String(), fc.integer()), track: fc.constantFrom('inbound', 'outbound') })), start: fc.option(fc.record({ mediaFormat: fc.record({ encoding: fc.constantFrom('audio/x-mulaw', 'audio/pcm'), sampleRate: fc.constantFrom(8000, 16000) }) })), mark: fc.option(fc.record({ name: fc.string() })), dtmf: fc.option(fc.record({ digit: fc.string() })) }).map((o) => JSON.stringify(o)),
    fc.record({ type: fc.constantFrom('start', 'played', 'stop', 'x'), sampleRate: fc.oneof(fc.constantFrom(16000, 48000), fc.integer()), ms: fc.oneof(fc.double(), fc.string()) }).map((o) => JSON.stringify(o)),
  );

  it('Twilio handler: any message sequence yields only typed errors, never a throw', () => {
    fc.assert(fc.property(fc.array(fc.tuple(message, fc.boolean()), { maxLength: 20 }), (msgs) => {
      const sock = fakeSocket();
      const call = new TwilioCall(sock as never);
      const errors: unknown[] = [];
      call.on('error', (e) => errors.push(e));
      for (const [m, binary] of msgs) sock.emit('message', Buffer.from(m), binary);
      for (const e of errors) expect(typed(e)).toBe(true);
    }));
  });

  it('browser handler: any message sequence yields only typed errors, never a throw', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.oneof(message, fc.uint8Array({ maxLength: 50 }).map((u) => Buffer.from(u).toString('latin1'))), fc.boolean()), { maxLength: 20 }), (msgs) => {
      const sock = fakeSocket();
      const call = new BrowserCall(sock as never);
      const errors: unknown[] = [];
      call.on('error', (e) => errors.push(e));
      for (const [m, binary] of msgs) sock.emit('message', Buffer.from(m, binary ? 'latin1' : 'utf8'), binary);
      for (const e of errors) expect(typed(e)).toBe(true);
    }));
  });
});

describe('options and shutdown', () => {
  it('validates options with clear messages', () => {
    const stt = new DeepgramStt({ apiKey: 'k' });
    const llm = new OpenAiLlm({ apiKey: 'k', model: 'm' });
    const tts = new ElevenLabsTts({ apiKey: 'k', voiceId: 'v' });
    expect(() => new DeepgramStt({ apiKey: '' })).toThrow(ConfigError);
    expect(() => new DeepgramStt({ apiKey: 'k', sampleRate: 11025 })).toThrow(AudioFormatError);
    expect(() => new OpenAiLlm({ model: 'm' })).toThrow(/apiKey or a client/);
    expect(() => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', outputFormat: 'mp3_44100' as never })).toThrow(ConfigError);
    expect(() => new VoiceSession({ stt, llm } as never)).toThrow(/stt, llm and tts/);
    expect(() => new VoiceSession({ stt, llm, tts, turnEnd: 'never' as never })).toThrow(/turnEnd/);
    expect(() => new VoiceSession({ stt, llm, tts, budget: 1 })).toThrow(/prices/);
    expect(() => gateway({ apiKey: '' })).toThrow(/AIGATEWAY_API_KEY/);
  });

  it('close() ends provider connections with their close messages', async () => {
    const dg = new DeepgramEmulator({ script: ['hello'] });
    const oa = new OpenAiEmulator();
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer() });
    await started<{ start(): Promise<string>; close(): Promise<void> }>(dg, oa, el);
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL }),
    });
    const input = (async function* () { for (;;) { yield { samples: new Int16Array(320), sampleRate: 16000 }; await sleep(20); } })();
    const run = session.run({ input, output: virtualSpeaker() });
    await sleep(300);
    await session.close();
    await run;
    await sleep(50);
    expect(dg.record.messages).toContainEqual({ type: 'CloseStream' });
    expect(el.record.messages.at(-1)).toEqual({ close_socket: true }); // the call's socket, closed properly
    expect(dg.openConnections + el.openConnections).toBe(0);
  });

  it('an STT that cannot connect rejects run() with its ProviderError (no AbortError from the shutdown) and closes', async () => {
    const session = new VoiceSession({ stt: new DeepgramStt({ apiKey: 'k', baseURL: 'ws://127.0.0.1:9/v1', maxReconnects: 0 }), llm: new OpenAiLlm({ apiKey: 'k', model: 'm' }), tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: 'ws://127.0.0.1:9/v1' }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const closed: unknown[] = [];
    session.on('closed', (c) => closed.push(c));
    const err = await session.run({ input: (async function* () { yield { samples: new Int16Array(320), sampleRate: 16000 }; })(), output: virtualSpeaker() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code).toBe('connection_error');
    expect(closed).toEqual([{ reason: 'stt failed' }]);
    expect(errors.every((e) => e instanceof VoxlineError && !(e instanceof AbortError))).toBe(true);
  });
});
