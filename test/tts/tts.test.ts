import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, AuthError, CartesiaTts, TimeoutError, DeepgramAuraTts, ElevenLabsTts, LocalTts, OpenAiTts, VoiceSession, gateway, toneSynthesizer, type SttEvent, type TtsFrame, type TtsStream } from '../../src/index';
import { Channel } from '../../src/streams/channel';
import { virtualSpeaker } from '../../src/adapters/index';
import { AuraEmulator, CartesiaEmulator, ElevenLabsEmulator, GatewayEmulator, OpenAiEmulator, virtualClock } from '../../src/testing/index';
import { collect, playedText, sleep, spyTts } from '../helpers';

let emu: ElevenLabsEmulator | GatewayEmulator | AuraEmulator | OpenAiEmulator | CartesiaEmulator | undefined;
let tts: TtsStream | undefined;
afterEach(async () => { await tts?.close?.(); await emu?.close(); emu = undefined; tts = undefined; });

// The emulators' delays and pacing, the session's timers and the speaker run on a virtual clock:
// the suite takes no wall time waiting for audio to play.
const clock = virtualClock();

async function* chunks(...parts: string[]) { for (const p of parts) { yield p; await sleep(5); } }
/** {@link chunks} on the virtual clock (a wall-clock wait would let it jump to the emulators' idle timeouts). */
async function* clocked(...parts: string[]) { for (const p of parts) { yield p; await clock.sleep(5); } }
const seconds = (frames: TtsFrame[]) => frames.reduce((n, f) => n + f.samples.length / f.sampleRate, 0);

const providers: [string, number, () => Promise<TtsStream>][] = [
  ['elevenlabs pcm_16000', 16000, async () => { emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new ElevenLabsTts({ apiKey: 'xi', voiceId: 'rachel', baseURL: emu.baseURL, outputFormat: 'pcm_16000' }); }],
  ['elevenlabs ulaw_8000', 8000, async () => { emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new ElevenLabsTts({ apiKey: 'xi', voiceId: 'rachel', baseURL: emu.baseURL, outputFormat: 'ulaw_8000' }); }],
  ['elevenlabs stream-input', 16000, async () => { emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new ElevenLabsTts({ apiKey: 'xi', voiceId: 'rachel', baseURL: emu.baseURL, outputFormat: 'pcm_16000', multiContext: false }); }],
  ['deepgram aura', 24000, async () => { emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL }); }],
  ['deepgram aura mulaw', 8000, async () => { emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL, encoding: 'mulaw' }); }],
  ['openai', 24000, async () => { emu = new OpenAiEmulator({ apiKey: 'sk', speech: { timeToFirstAudioMs: 30 }, clock }); await emu.start(); return new OpenAiTts({ apiKey: 'sk', baseURL: (emu as OpenAiEmulator).baseURL }); }],
  ['openai sse', 24000, async () => { emu = new OpenAiEmulator({ apiKey: 'sk', speech: { timeToFirstAudioMs: 30 }, clock }); await emu.start(); return new OpenAiTts({ apiKey: 'sk', baseURL: (emu as OpenAiEmulator).baseURL, streamFormat: 'sse' }); }],
  ['cartesia', 24000, async () => { emu = new CartesiaEmulator({ apiKey: 'sk_car', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v1', baseURL: emu.baseURL }); }],
  ['cartesia pcm_mulaw 8000', 8000, async () => { emu = new CartesiaEmulator({ apiKey: 'sk_car', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v1', baseURL: emu.baseURL, encoding: 'pcm_mulaw' }); }],
  ['gateway', 24000, async () => { emu = new GatewayEmulator({ apiKey: 'sk-aig', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 30, clock }); await emu.start(); return gateway({ apiKey: 'sk-aig', baseURL: emu.baseURL }).tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }); }],
];

describe.each(providers)('TtsStream: %s', (_name, rate, make) => {
  it('speaks every chunk, in order, at the declared rate', async () => {
    tts = await make();
    expect(tts.sampleRate).toBe(rate);
    const frames = await collect(tts.synthesize(clocked('Hello there.', 'How are you today?')));
    expect(frames.every((f) => f.sampleRate === rate)).toBe(true);
    // the tone voice speaks 65 ms per character of each chunk
    expect(seconds(frames)).toBeCloseTo((('Hello there.'.length + 'How are you today?'.length) * 65) / 1000, 0);
  });

  it('stops at once on abort and stays usable for the next reply', async () => {
    tts = await make();
    const ac = new AbortController();
    let got = 0;
    const err = await (async () => { for await (const _ of tts!.synthesize(clocked('A rather long sentence that keeps going for a while.'), { signal: ac.signal })) { if (++got === 2) ac.abort(); } })().catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(got).toBe(2);
    const frames = await collect(tts.synthesize(clocked('Next turn.')));
    expect(seconds(frames)).toBeGreaterThan(0.5);
  });

  it('opens the next connection ahead of need: a warm turn pays no handshake', async (ctx) => {
    tts = await make();
    if (!tts.warmup) return ctx.skip(); // HTTP providers: the client keeps its connection alive
    await tts.warmup();
    const t0 = clock.now();
    let first = 0;
    for await (const _ of tts.synthesize(clocked('Warm.'))) { first ||= clock.now() - t0; }
    expect(first).toBeLessThan(200);
    await clock.sleep(30);
    expect(emu!.openConnections).toBe(1); // the next reply's socket, already open
  });
});

const GREETING = 'Thanks for calling the test line. I can help you with orders, returns and store hours, and I will keep this short so you can get on with your day.';

/**
 * Speaks GREETING through `tts` in a VoiceSession and barges in once `atMs` of it has played.
 * Returns what the session recorded and the characters actually played: by the alignment when the
 * provider sent one, else by the tone voice's 65 ms per character of each chunk.
 */
async function bargeInAt(tts: TtsStream, atMs: number) {
  const spy = spyTts(tts);
  const stt = new Channel<SttEvent>(4);
  const session = new VoiceSession({
    stt: { provider: 'fake', sampleRate: 16000, transcribe: (_audio, o) => { o?.signal?.addEventListener('abort', () => stt.close()); return { [Symbol.asyncIterator]: () => stt[Symbol.asyncIterator](), finalize() {} }; } },
    llm: { provider: 'fake', model: 'none', async *respond() {} },
    tts: spy.tts,
    greeting: GREETING,
    clock,
  });
  const output = virtualSpeaker({ sampleRate: 16000, clock });
  let event: { heardText: string; fullText: string; playedMs: number } | undefined;
  let played = 0;
  session.on('interrupted', (e) => { event = e; played = output.playedMs; });
  const running = session.run({ input: (async function* () {})(), output });
  while (output.playedMs < atMs) await clock.sleep(5);
  stt.offer({ type: 'interim', text: 'wait stop', words: [] });
  while (!event) await clock.sleep(5);
  await session.close();
  await running;
  const reply = spy.replies[0]!;
  return { session, event: event!, played, truth: playedText(reply, played), aligned: reply.frames.some((f) => f.alignment) };
}

describe.each([...providers, ['local', 16000, async () => new LocalTts({ sampleRate: 16000 })] as (typeof providers)[number]])('barge-in on %s: what the user heard', (_name, _rate, make) => {
  it('records the heard part, in whole words, alike in the event, history and transcript', async () => {
    tts = await make();
    const { session, event, played, truth, aligned } = await bargeInAt(tts, 3000);
    const heard = event.heardText;
    expect(event.playedMs).toBeCloseTo(played, 0);
    // a prefix of the reply, cut between words
    expect(GREETING.startsWith(heard)).toBe(true);
    expect(GREETING.length === heard.length || /\s/.test(GREETING[heard.length]!)).toBe(true);
    // against the characters played: within one word with alignment; without, within one word
    // plus 10 % of what was played (the speaking rate is estimated)
    const word = Math.max(...GREETING.split(' ').map((w) => w.length)) + 1;
    const tolerance = aligned ? word : word + 0.1 * truth.length;
    expect(truth.length).toBeGreaterThan(20);
    expect(Math.abs(heard.length - truth.length)).toBeLessThanOrEqual(tolerance);
    expect(session.history).toEqual([{ role: 'assistant', content: `${heard}…` }]);
    expect(session.transcript.map(({ role, text, interrupted }) => ({ role, text, interrupted }))).toEqual([{ role: 'agent', text: heard, interrupted: true }]);
  });
});

// Socket providers that promise to survive a drop (re-sending the unspoken text) and to time out a
// stall. On the wall clock: the stall is measured against the client's own timer.
const resilient: [string, (o: { stallTimeoutMs: number; maxReconnects?: number }) => Promise<TtsStream>][] = [
  ['elevenlabs', async (o) => { emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 }); await emu.start(); return new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: emu.baseURL, outputFormat: 'pcm_16000', ...o }); }],
  ['elevenlabs stream-input', async (o) => { emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 }); await emu.start(); return new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: emu.baseURL, outputFormat: 'pcm_16000', multiContext: false, ...o }); }],
  ['cartesia', async (o) => { emu = new CartesiaEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 }); await emu.start(); return new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000, ...o }); }],
];

describe.each(resilient)('drops and stalls: %s', (_name, make) => {
  it('a socket that drops mid-reply is replaced, and the reply is spoken whole, the unspoken text once', async () => {
    tts = await make({ stallTimeoutMs: 10_000 });
    const text = ['This sentence is long enough to be cut in the middle by a dropped socket.', 'And one more.'];
    emu!.inject({ closeMidStream: { afterMessages: 6, code: 1011 } });
    const frames = await collect(tts.synthesize(chunks(...text)));
    expect(frames.flatMap((f) => f.alignment?.chars ?? []).join('').trim()).toBe(text.join(' '));
    expect(emu!.record.connections.length).toBeGreaterThanOrEqual(2); // the replacement (and a warm one)
    // The tone voice speaks 65 ms per character: at most a word or so is said twice.
    expect(seconds(frames)).toBeGreaterThan((text.join('').length * 65) / 1000 - 0.1);
    expect(seconds(frames)).toBeLessThan((text.join('').length * 65) / 1000 + 1);
  });

  it('with no reconnection left a stall becomes a TimeoutError within the stall timeout, and the next replies get audio', async () => {
    tts = await make({ stallTimeoutMs: 300, maxReconnects: 0 });
    emu!.inject({ stall: { afterMessages: 2 } });
    const t0 = performance.now();
    const err = await collect(tts.synthesize(chunks('A sentence that stalls after two messages of audio.'))).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(2000);
    // the stalled socket is not used again: the apology and the replies after it are spoken
    for (const reply of ['Sorry, something went wrong.', 'Still here.']) {
      const frames = await collect(tts.synthesize(chunks(reply)));
      expect(frames.flatMap((f) => f.alignment?.chars ?? []).join('').trim()).toBe(reply);
    }
  });

  it('a stall mid-reply is survived like a drop: a new socket, the unspoken text once, and the next reply gets audio', async () => {
    tts = await make({ stallTimeoutMs: 300 });
    const text = ['This sentence is long enough to stall in the middle of its audio.', 'And one more.'];
    emu!.inject({ stall: { afterMessages: 6 } });
    const frames = await collect(tts.synthesize(chunks(...text)));
    expect(frames.flatMap((f) => f.alignment?.chars ?? []).join('').trim()).toBe(text.join(' '));
    expect(seconds(frames)).toBeLessThan((text.join('').length * 65) / 1000 + 1);
    const next = await collect(tts.synthesize(chunks('The next reply.')));
    expect(next.flatMap((f) => f.alignment?.chars ?? []).join('').trim()).toBe('The next reply.');
  });
});

describe('ElevenLabsTts', () => {
  it('sends the protocol exactly: init with the settings given, text ending in a space, the rest flushed, then EOS', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await emu.start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v1', model: 'eleven_turbo_v2_5', baseURL: emu.baseURL, voiceSettings: { stability: 0.4, speed: 1.1 }, chunkLengthSchedule: [50, 90], multiContext: false });
    const frames = await collect(tts.synthesize(chunks('Hi.', 'Bye')));
    expect(emu.record.connections[0]).toMatchObject({ path: '/v1/text-to-speech/v1/stream-input', query: { model_id: 'eleven_turbo_v2_5', output_format: 'pcm_24000', inactivity_timeout: '180', auto_mode: 'true', sync_alignment: 'true' } });
    expect(emu.record.connections[0]!.headers['xi-api-key']).toBe('xi');
    const init = { text: ' ', voice_settings: { stability: 0.4, speed: 1.1 }, generation_config: { chunk_length_schedule: [50, 90] } };
    expect(emu.record.messages[0]).toEqual(init);
    // The next reply's socket is warmed (and initialised) while this one speaks.
    expect(emu.record.messages.filter((m) => m.text === ' ')).toEqual([init, init]);
    expect(emu.record.messages.filter((m) => m.text !== ' ')).toEqual([
      { text: 'Hi. ' },
      { text: 'Bye ' },
      { text: '' },
    ]);
    expect(frames.flatMap((f) => f.alignment?.chars ?? []).join('')).toBe('Hi. Bye ');
  });

  it('re-sends the unspoken text on a new connection when the socket drops mid-sentence', async () => {
    emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 });
    await emu.start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v1', baseURL: emu.baseURL, outputFormat: 'pcm_16000', multiContext: false });
    const text = 'This sentence is long enough to be cut in the middle by a dropped socket.';
    emu.inject({ closeMidStream: { afterMessages: 3, code: 1011 } });
    const frames = await collect(tts.synthesize(chunks(text)));
    const spoken = frames.flatMap((f) => f.alignment?.chars ?? []).join('');
    expect(spoken).toBe(`${text} `);
    const resent = emu.record.messages.filter((m) => typeof m.text === 'string' && (m.text as string).length > 1);
    expect(resent.length).toBe(2);
    expect(text.endsWith((resent[1]!.text as string).trim())).toBe(true);
  });

  it('refuses a wrong key with AuthError and no key in the message', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'right', synthesizer: toneSynthesizer() });
    await emu.start();
    tts = new ElevenLabsTts({ apiKey: 'sentinel-xi-key-555', voiceId: 'v', baseURL: emu.baseURL });
    const err = await collect(tts.synthesize(chunks('Hi.'))).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).not.toContain('sentinel-xi-key-555');
  });
});

describe('ElevenLabsTts multi-context', () => {
  it('replaces a socket that drops mid-reply and sends the unspoken text in the same context', async () => {
    emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 });
    await emu.start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v1', baseURL: emu.baseURL, outputFormat: 'pcm_16000' });
    const text = 'This sentence is long enough to be cut in the middle by a dropped socket.';
    emu.inject({ closeMidStream: { afterMessages: 3, code: 1011 } });
    const frames = await collect(tts.synthesize(chunks(text)));
    expect(frames.flatMap((f) => f.alignment?.chars ?? []).join('')).toBe(`${text} `);
    expect(emu.record.connections.length).toBe(2);
  });

  it('uses one socket and a context per reply; 20 interruptions in a row never pass 5 open contexts or leak stale audio', async () => {
    const el = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10, realtimeFactor: 0.2 });
    emu = el;
    await el.start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }); // multi-context by default
    for (let i = 0; i < 20; i++) {
      const ac = new AbortController();
      let n = 0;
      await (async () => { for await (const _ of tts!.synthesize(chunks(`Reply number ${i} is long enough to be interrupted after two frames.`), { signal: ac.signal })) { if (++n === 2) ac.abort(); } })().catch(() => {});
    }
    const last = await collect(tts.synthesize(chunks('The last one.')));
    expect(last.flatMap((f) => f.alignment?.chars ?? []).join('')).toBe('The last one. '); // nothing from the cut replies
    await sleep(30);
    expect(el.mostContexts).toBeLessThanOrEqual(5);
    expect(el.record.connections.every((c) => c.path === '/v1/text-to-speech/v/multi-stream-input')).toBe(true);
    const closes = el.record.messages.filter((m) => m.close_context === true);
    expect(closes.length).toBe(21);
    expect(el.record.messages.filter((m) => m.text === ' ').every((m) => typeof m.context_id === 'string')).toBe(true);
  }, 30_000);
});

describe('DeepgramAuraTts', () => {
  it('speaks a Speak per chunk and one Flush on one socket, and Clears on cancel so the next reply is clean', async () => {
    emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20, realtimeFactor: 0.3 });
    await emu.start();
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: (emu as AuraEmulator).baseURL, model: 'aura-2-thalia-en', sampleRate: 16000 });
    await collect(tts.synthesize(chunks('Hi.', 'Bye.')));
    expect(emu.record.connections[0]!.query).toEqual({ model: 'aura-2-thalia-en', encoding: 'linear16', sample_rate: '16000' });
    expect(emu.record.connections[0]!.headers.authorization).toBe('Token dg');
    expect(emu.record.messages).toEqual([{ type: 'Speak', text: 'Hi. ' }, { type: 'Speak', text: 'Bye. ' }, { type: 'Flush' }]);
    const ac = new AbortController();
    let n = 0;
    await (async () => { for await (const _ of tts!.synthesize(chunks('A long sentence that will be cut off after a few frames of audio.'), { signal: ac.signal })) if (++n === 2) ac.abort(); })().catch(() => {});
    await sleep(30);
    expect(emu.record.messages.at(-1)).toEqual({ type: 'Clear' });
    const next = await collect(tts.synthesize(chunks('Next.')));
    expect(seconds(next)).toBeCloseTo(('Next.'.length * 65) / 1000, 1); // none of the old reply's audio
    expect(emu.record.connections.length).toBe(1);
    await tts.close?.();
    await sleep(30);
    expect(emu.record.messages.at(-1)).toEqual({ type: 'Close' });
  });
});

describe('OpenAiTts', () => {
  it('sends the speech request exactly and refuses a bad key', async () => {
    emu = new OpenAiEmulator({ apiKey: 'sk', speech: { timeToFirstAudioMs: 5 } });
    await emu.start();
    tts = new OpenAiTts({ apiKey: 'sk', baseURL: (emu as OpenAiEmulator).baseURL, model: 'tts-1', voice: 'nova', speed: 1.1 });
    await collect(tts.synthesize(chunks('Hello.')));
    expect(emu.record.bodies[0]).toEqual({ model: 'tts-1', voice: 'nova', input: 'Hello.', response_format: 'pcm', speed: 1.1 });
    const bad = new OpenAiTts({ apiKey: 'sentinel-openai-tts', baseURL: (emu as OpenAiEmulator).baseURL });
    const err = await collect(bad.synthesize(chunks('Hi.'))).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).not.toContain('sentinel-openai-tts');
  });
});

describe('LocalTts', () => {
  it('speaks real eSpeak NG audio offline with alignment', async () => {
    tts = new LocalTts({ sampleRate: 16000 });
    const frames = await collect(tts.synthesize(chunks('Hello from the local voice.')));
    expect(frames[0]!.sampleRate).toBe(16000);
    expect(seconds(frames)).toBeGreaterThan(1);
    expect(frames.flatMap((f) => f.alignment!.chars).join('')).toBe('Hello from the local voice. ');
    const energy = frames.reduce((n, f) => n + f.samples.reduce((a, s) => a + Math.abs(s), 0), 0);
    expect(energy / (seconds(frames) * 16000)).toBeGreaterThan(300); // speech, not silence
  });
});
