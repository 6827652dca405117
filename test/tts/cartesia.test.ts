import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, AuthError, CartesiaTts, DeepgramStt, ElevenLabsTts, OpenAiLlm, ProtocolError, ProviderError, TimeoutError, VoiceSession, fallback, gateway, toneSynthesizer, type TtsFrame, type TtsStream } from '../../src/index';
import { wordsToAlignment } from '../../src/tts/cartesia';
import { virtualSpeaker } from '../../src/adapters/index';
import { CartesiaEmulator, DeepgramEmulator, ElevenLabsEmulator, GatewayEmulator, OpenAiEmulator, ScriptedCaller } from '../../src/testing/index';
import { collect, sleep } from '../helpers';

let emus: { close(): Promise<void> }[] = [];
let tts: TtsStream | undefined;
afterEach(async () => { await tts?.close?.(); tts = undefined; await Promise.all(emus.map((e) => e.close())); emus = []; });

async function up<T extends { start(): Promise<string>; close(): Promise<void> }>(e: T): Promise<T> {
  emus.push(e);
  await e.start();
  return e;
}
const cartesia = (o: ConstructorParameters<typeof CartesiaEmulator>[0] = {}) => up(new CartesiaEmulator({ apiKey: 'sk_car', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10, realtimeFactor: 0.2, ...o }));
async function* chunks(...parts: (string | number)[]) { for (const p of parts) { if (typeof p === 'number') await sleep(p); else { yield p; await sleep(5); } } }
const spokenText = (frames: TtsFrame[]) => frames.flatMap((f) => f.alignment?.chars ?? []).join('');
const seconds = (frames: TtsFrame[]) => frames.reduce((n, f) => n + f.samples.length / f.sampleRate, 0);
const inputs = (emu: CartesiaEmulator) => emu.record.messages.filter((m) => typeof m.transcript === 'string');

describe('CartesiaTts', () => {
  it('sends the documented protocol: headers, one context per reply, continuations, the same fields every time, an empty continue:false last', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'voice-1', model: 'sonic-3', language: 'en', generationConfig: { speed: 1.1 }, baseURL: emu.baseURL });
    const frames = await collect(tts.synthesize(chunks('Hi there.', 'Bye now.')));
    expect(emu.record.connections[0]).toMatchObject({ path: '/tts/websocket' });
    expect(emu.record.connections[0]!.headers.authorization).toBe('Bearer sk_car');
    expect(emu.record.connections[0]!.headers['cartesia-version']).toBe('2026-08-14');
    const sent = inputs(emu);
    const common = { model_id: 'sonic-3', voice: { mode: 'id', id: 'voice-1' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 }, add_timestamps: true, use_normalized_timestamps: false, language: 'en', generation_config: { speed: 1.1 } };
    const ctx = sent[0]!.context_id;
    expect(typeof ctx).toBe('string');
    expect(sent).toEqual([
      { ...common, context_id: ctx, transcript: 'Hi there. ', continue: true },
      { ...common, context_id: ctx, transcript: 'Bye now. ', continue: true },
      { ...common, context_id: ctx, transcript: '', continue: false },
    ]);
    expect(spokenText(frames)).toBe('Hi there. Bye now. '); // word timestamps mapped onto the text sent
    expect(seconds(frames)).toBeCloseTo(('Hi there.Bye now.'.length * 65) / 1000, 1);
    // a second reply is a new context on the same socket
    await collect(tts.synthesize(chunks('Again.')));
    expect(inputs(emu).at(-1)!.context_id).not.toBe(ctx);
    expect(emu.record.connections.length).toBe(1);
  });

  it('word timestamps become alignment at the right place in the audio (what the user heard)', async () => {
    const emu = await cartesia({ synthesizer: toneSynthesizer({ msPerChar: 50 }) });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000 });
    const text = 'One two three. Four five six.';
    const frames = await collect(tts.synthesize(chunks('One two three.', 'Four five six.')));
    // absolute time of each aligned character: the audio before its frame plus its offset
    let at = 0;
    const times: { c: string; t: number }[] = [];
    for (const f of frames) {
      f.alignment?.chars.forEach((c, i) => times.push({ c, t: at + f.alignment!.startMs[i]! }));
      at += (f.samples.length * 1000) / f.sampleRate;
    }
    expect(times.map((x) => x.c).join('')).toBe(`${text} `);
    // The tone voice speaks 50 ms per character: 700 ms for each chunk, its 15 characters (the
    // space the client adds included) spread evenly by the emulator.
    const startOf = (w: string) => times[text.indexOf(w)]!.t;
    expect(at).toBeCloseTo(1400, -1);
    expect(startOf('One')).toBe(0);
    expect(startOf('two')).toBeCloseTo((4 * 700) / 15, 0);
    expect(startOf('Four')).toBeCloseTo(700, 0);
    expect(startOf('six')).toBeCloseTo(700 + (10 * 700) / 15, 0);
    expect(times.every((x, i) => i === 0 || x.t >= times[i - 1]!.t)).toBe(true);
  });

  it('barge-in cancels the context and drops its late audio; 10 in a row leave no context open', async () => {
    const emu = await cartesia({ realtimeFactor: 0.3 });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000 });
    let maxOpen = 0;
    for (let i = 0; i < 10; i++) {
      const ac = new AbortController();
      let n = 0;
      await (async () => { for await (const _ of tts!.synthesize(chunks(`Reply number ${i} is long enough to be interrupted after two frames.`), { signal: ac.signal })) { maxOpen = Math.max(maxOpen, emu.openContexts); if (++n === 2) ac.abort(); } })().catch(() => {});
    }
    const last = await collect(tts.synthesize(chunks('The last one.')));
    expect(spokenText(last)).toBe('The last one. '); // nothing from the cut replies
    expect(seconds(last)).toBeCloseTo(('The last one.'.length * 65) / 1000, 1);
    await sleep(30);
    const cancels = emu.record.messages.filter((m) => m.cancel === true);
    expect(cancels.length).toBe(10);
    expect(cancels.every((m) => Object.keys(m).sort().join() === 'cancel,context_id')).toBe(true);
    expect(maxOpen).toBeLessThanOrEqual(1);
    expect(emu.openContexts).toBe(0);
    expect(emu.record.connections.length).toBe(1);
  }, 30_000);

  it('a socket that drops mid-reply is replaced and only the unspoken text is sent again, in a new context', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000 });
    const text = 'This sentence is long enough to be cut in the middle by a dropped socket.';
    emu.inject({ closeMidStream: { afterMessages: 12, code: 1011 } });
    const frames = await collect(tts.synthesize(chunks(text, 'And one more.')));
    expect(spokenText(frames)).toBe(`${text} And one more. `);
    expect(emu.record.connections.length).toBe(2);
    const sent = inputs(emu);
    const contexts = [...new Set(sent.map((m) => m.context_id))];
    expect(contexts.length).toBe(2);
    const resent = sent.filter((m) => m.context_id === contexts[1]).map((m) => m.transcript as string).join('');
    expect(resent.length).toBeGreaterThan(5);
    expect(`${text} And one more. `.endsWith(resent)).toBe(true);
    expect(resent.startsWith('This sentence is long')).toBe(false); // not the whole reply again
    expect(resent.endsWith('And one more. ')).toBe(true);
  });

  it('a stalled socket is replaced: the reply\'s unspoken text is sent again in a new context, and the next reply gets audio', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000, stallTimeoutMs: 300 });
    const text = 'This sentence is long enough to stall in the middle of its audio.';
    emu.inject({ stall: { afterMessages: 8 } });
    const at: number[] = [];
    const frames: TtsFrame[] = [];
    for await (const f of tts.synthesize(chunks(text, 'And one more.'))) {
      frames.push(f);
      if (f.samples.length) at.push(performance.now());
    }
    expect(spokenText(frames)).toBe(`${text} And one more. `);
    const sent = inputs(emu);
    const contexts = [...new Set(sent.map((m) => m.context_id))];
    expect(contexts.length).toBe(2);
    const resent = sent.filter((m) => m.context_id === contexts[1]).map((m) => m.transcript as string).join('');
    expect(resent.startsWith('This sentence')).toBe(false); // only what was not heard
    expect(`${text} And one more. `.endsWith(resent)).toBe(true);
    // the gap in the audio: the stall timeout, a new socket, the first audio of the new context
    const gap = Math.max(...at.slice(1).map((t, i) => t - at[i]!));
    expect(gap).toBeGreaterThan(300);
    expect(gap).toBeLessThan(300 + 700);
    const next = await collect(tts.synthesize(chunks('The next reply.')));
    expect(spokenText(next)).toBe('The next reply. ');
    expect(emu.record.connections.length).toBe(2);
    await sleep(30);
    expect(emu.openConnections).toBe(1); // the stalled socket was closed
  });

  it('with no reconnection left a stall is a TimeoutError, and the next reply and every one after get audio', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000, stallTimeoutMs: 300, maxReconnects: 0 });
    emu.inject({ stall: { afterMessages: 3 } });
    const err = await collect(tts.synthesize(chunks('A reply that stalls after three messages of audio.'))).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    for (const reply of ['Sorry, something went wrong.', 'Still here.']) expect(spokenText(await collect(tts.synthesize(chunks(reply))))).toBe(`${reply} `);
  });

  it('an aborted reply cancels its context at once, mid-text and mid-audio, and sends nothing for it after', async () => {
    const emu = await cartesia({ realtimeFactor: 0.3 });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, sampleRate: 16000 });
    for (const midText of [true, false]) {
      const ac = new AbortController();
      const before = emu.record.messages.length;
      // mid-text: the LLM is still streaming (its next sentence is seconds away); mid-audio: all text is in
      const text = midText ? chunks('The first sentence of a long reply.', 3000, 'The rest.') : (async function* () { yield 'The first sentence of a long reply.'; })();
      let frames = 0;
      const err = await (async () => {
        for await (const _ of tts!.synthesize(text, { signal: ac.signal })) if (++frames === 1) setTimeout(() => ac.abort(), 20); // while the consumer waits
      })().catch((e) => e);
      expect(err).toBeInstanceOf(AbortError);
      await sleep(50);
      const wire = emu.record.messages.slice(before);
      const ctx = wire[0]!.context_id;
      expect(wire.every((m) => m.context_id === ctx)).toBe(true);
      expect(wire.map((m) => (m.cancel ? 'cancel' : `${m.transcript}|${m.continue}`))).toEqual(
        midText ? ['The first sentence of a long reply. |true', 'cancel'] : ['The first sentence of a long reply. |true', '|false', 'cancel'],
      );
      expect(wire.at(-1)).toEqual({ context_id: ctx, cancel: true });
      expect(emu.openContexts).toBe(0);
    }
  });

  it('no stall while the reply waits for text: a pause longer than the stall timeout is fine', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, stallTimeoutMs: 400, contextIdleMs: 5000 });
    const frames = await collect(tts.synthesize(chunks('First.', 700, 'Second.')));
    expect(spokenText(frames)).toBe('First. Second. ');
  });

  it('after a pause longer than the context lifetime (a slow tool) the rest of the reply goes in a new context', async () => {
    const emu = await cartesia({ contextExpiryMs: 400 });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, contextIdleMs: 250 });
    const frames = await collect(tts.synthesize(chunks('Let me check.', 900, 'It shipped today.')));
    expect(spokenText(frames)).toBe('Let me check. It shipped today. ');
    expect(new Set(inputs(emu).map((m) => m.context_id)).size).toBe(2);
    // Sent into the expired context anyway (a clock that jumped, a slow network), the input is
    // refused with an error; the client goes on once in a new context with the unspoken text.
    const late = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL, contextIdleMs: 60_000 });
    const before = emu.record.messages.length;
    const again = await collect(late.synthesize(chunks('Let me check.', 900, 'It shipped today.')));
    await late.close();
    expect(spokenText(again)).toBe('Let me check. It shipped today. ');
    const sent = emu.record.messages.slice(before).filter((m) => typeof m.transcript === 'string');
    expect(sent.map((m) => m.transcript)).toEqual(['Let me check. ', 'It shipped today. ', 'It shipped today. ', '']);
    expect(new Set(sent.map((m) => m.context_id)).size).toBe(2);
  });

  it('an error on the first input of a context is not retried', async () => {
    const emu = await cartesia({ concurrencyLimit: 1 });
    const busy = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL });
    const hold = busy.synthesize(chunks('A long reply that holds the only context for a while.'));
    const first = await hold.next(); // the busy reply has its context
    expect(first.done).toBe(false);
    const err = await collect(tts.synthesize(chunks('Hello.'))).catch((e) => e);
    expect(err).toMatchObject({ status: 429, providerCode: 'concurrency_limit_exceeded' });
    expect(inputs(emu).filter((m) => m.transcript === 'Hello. ').length).toBe(1);
    await hold.return(undefined);
    await busy.close();
  });

  it('an error message becomes a typed error with Cartesia\'s code and status', async () => {
    const emu = await cartesia({ concurrencyLimit: 0 });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL });
    const err = await collect(tts.synthesize(chunks('Hello.'))).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: 'cartesia', status: 429, code: 'rate_limited', providerCode: 'concurrency_limit_exceeded', retryable: true });
    expect(err.message).toContain('Concurrency limit exceeded');
  });

  it('a message that is not JSON fails the reply with a ProtocolError, and the next reply works', async () => {
    const emu = await cartesia();
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL });
    emu.inject({ malformed: true });
    const err = await collect(tts.synthesize(chunks('Hello there.'))).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(spokenText(await collect(tts.synthesize(chunks('Again.'))))).toBe('Again. ');
  });

  it('refuses a wrong key with AuthError, the key not in the message', async () => {
    const emu = await cartesia({ apiKey: 'right' });
    tts = new CartesiaTts({ apiKey: 'sentinel-cartesia-key-321', voiceId: 'v', baseURL: emu.baseURL });
    const err = await collect(tts.synthesize(chunks('Hi.'))).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).not.toContain('sentinel-cartesia-key-321');
  });

  it('reopens the socket when Cartesia closes it for idleness, so the next turn is warm', async () => {
    const emu = await cartesia({ idleTimeoutMs: 1300 });
    tts = new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: emu.baseURL });
    await tts.warmup!();
    await sleep(1600);
    expect(emu.record.connections.length).toBe(2);
    expect(emu.openConnections).toBe(1);
    const frames = await collect(tts.synthesize(chunks('Still here.')));
    expect(spokenText(frames)).toBe('Still here. ');
    expect(emu.record.connections.length).toBe(2);
  });

  it('keeps the key out of sight: not in util.inspect, not in errors', () => {
    const t = new CartesiaTts({ apiKey: 'sk_car_secret_9876', voiceId: 'v9', model: 'sonic-3' });
    expect(inspect(t, { breakLength: Infinity })).toBe("CartesiaTts { provider: 'cartesia', model: 'sonic-3', voice: 'v9', sampleRate: 24000 }");
    expect(JSON.stringify(t)).not.toContain('sk_car_secret_9876');
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', baseUrl: 'wss://x' } as never)).toThrow(/renamed `baseURL`/);
  });

  it('rejects options Cartesia does not offer', () => {
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', sampleRate: 12345 as 8000 })).toThrow(/sampleRate/);
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: 'v', maxBufferDelayMs: 6000 })).toThrow(/maxBufferDelayMs/);
    expect(() => new CartesiaTts({ apiKey: 'k', voiceId: '' })).toThrow(/voiceId/);
  });
});

describe('wordsToAlignment', () => {
  it('maps words onto the text sent, punctuation and spaces included, and skips what it cannot find by one token', () => {
    const text = 'Hello, world! It costs $5 today. ';
    const { alignment, next } = wordsToAlignment(text, 0, { words: ['Hello', 'world', 'It', 'costs', 'five', 'today'], start: [0, 0.5, 1, 1.2, 1.5, 2], end: [0.4, 0.9, 1.1, 1.4, 1.9, 2.4] }, 100);
    expect(alignment.chars.join('')).toBe(text);
    expect(next).toBe(text.length);
    expect(alignment.startMs[0]).toBe(100);
    const at = (s: string) => alignment.startMs[text.indexOf(s)];
    expect(at('world')).toBe(600);
    expect(at('$5')).toBe(1600); // "five" is not in the text: it takes the next token
    expect(at('day.')).toBeCloseTo(2100 + 2 * (400 / 6)); // "today." is spread over the word's time
    expect(at(' today')).toBe(2000); // the space after "$5", at its end
    // the next message goes on from where this one stopped
    const more = wordsToAlignment('Hi there. Bye now. ', 3, { words: ['there', 'Bye'], start: [0.1, 0.5], end: [0.4, 0.7] });
    expect(more.alignment.chars.join('')).toBe('there. Bye ');
    expect(more.next).toBe(14);
  });
});

describe('CartesiaTts in chains', () => {
  it('fallback(): when Cartesia fails mid-reply the unspoken text goes to the next provider', async () => {
    const a = await cartesia();
    const b = await up(new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 }));
    const chain = fallback([new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: a.baseURL, sampleRate: 16000, maxReconnects: 0 }), new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: b.baseURL, outputFormat: 'pcm_16000' })]);
    tts = chain;
    const switches: { from: string; to: string }[] = [];
    chain.on('switch', (s) => switches.push(s));
    a.inject({ closeMidStream: { afterMessages: 6, code: 1011 } });
    const text = ['The first sentence is long enough to be cut off in the middle.', 'And a second one follows it.'];
    const frames = await collect(chain.synthesize(chunks(...text)));
    expect(spokenText(frames).replace(/\s+/g, ' ').trim()).toBe(text.join(' '));
    expect(switches).toMatchObject([{ from: 'cartesia', to: 'elevenlabs' }]);
    const sentToB = b.record.messages.filter((m) => typeof m.text === 'string' && (m.text as string).trim()).map((m) => (m.text as string).trim());
    expect(sentToB[0]!.startsWith('The first')).toBe(false); // only what Cartesia had not said
    expect(text.join(' ').endsWith(sentToB.join(' '))).toBe(true);
  });

  it("gateway: aig.tts('cartesia/sonic-2') speaks through the gateway's TTS endpoint", async () => {
    const gw = await up(new GatewayEmulator({ apiKey: 'sk-aig', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10 }));
    tts = gateway({ apiKey: 'sk-aig', baseURL: gw.baseURL }).tts('cartesia/sonic-2', { voice: 'katie' });
    const frames = await collect(tts.synthesize(chunks('Hello from Sonic.')));
    expect(seconds(frames)).toBeCloseTo(('Hello from Sonic.'.length * 65) / 1000, 1);
    expect(gw.record.connections[0]).toMatchObject({ path: '/v1/audio/speech/stream', query: { model: 'cartesia/sonic-2', voice: 'katie' } });
  });

  it('VoiceSession: on barge-in the history keeps only the words the user heard, by Cartesia timestamps', async () => {
    const dg = await up(new DeepgramEmulator({ script: ['Tell me a story please', 'Wait what are your hours'] }));
    const oa = await up(new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80 }));
    const ca = await cartesia({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3 });
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
      tts: new CartesiaTts({ apiKey: 'sk_car', voiceId: 'v', baseURL: ca.baseURL, sampleRate: 16000 }),
    });
    const caller = new ScriptedCaller({ lines: ['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }], synthesizer: toneSynthesizer({ msPerChar: 45 }) });
    const interrupted: { fullText: string }[] = [];
    session.on('interrupted', (e) => interrupted.push(e));
    await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000 }) });
    expect(interrupted.length).toBe(1);
    const story = String(session.history[1]!.content);
    expect(story.endsWith('…')).toBe(true);
    const heard = story.slice(0, -1);
    expect(heard.length).toBeGreaterThan(5);
    expect(interrupted[0]!.fullText.startsWith(heard)).toBe(true);
    expect(heard.length).toBeLessThan(interrupted[0]!.fullText.length);
    expect(ca.record.messages.some((m) => m.cancel === true)).toBe(true);
    expect(session.history[2]).toEqual({ role: 'user', content: 'Wait what are your hours' });
  }, 30_000);
});
