import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DeepgramFluxStt, type SttEvent } from '../../src/index';
import { DeepgramFluxEmulator } from '../../src/testing/index';
import { collect, paced, utteranceFrames } from '../helpers';

let emu: DeepgramFluxEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(script: string[], opts: ConstructorParameters<typeof DeepgramFluxEmulator>[0] = {}) {
  emu = new DeepgramFluxEmulator({ apiKey: 'dg', script, ...opts });
  await emu.start();
  return emu;
}

async function* concat(...parts: Promise<Awaited<ReturnType<typeof utteranceFrames>>>[]) {
  for (const p of parts) for (const f of await p) yield f;
}

const kinds = (events: SttEvent[]) => events.map((e) => e.type).filter((t, i, a) => t !== 'interim' || a[i - 1] !== 'interim');

describe('DeepgramFluxStt', () => {
  it('maps a turn: StartOfTurn, Updates, EagerEndOfTurn, then EndOfTurn with the same transcript', async () => {
    const e = await start(['where is my order']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL, eagerEotThreshold: 0.4 });
    const events = await collect(stt.transcribe(concat(utteranceFrames(1200, 200, 700))));
    expect(kinds(events)).toEqual(['speech_started', 'interim', 'eager_end_of_turn', 'final']);
    expect(events[0]).toMatchObject({ type: 'speech_started', turnStart: true });
    expect((events[0] as { timestamp: number }).timestamp).toBeCloseTo(0.2, 1);
    const eager = events.find((x) => x.type === 'eager_end_of_turn') as Extract<SttEvent, { type: 'eager_end_of_turn' }>;
    const final = events.find((x) => x.type === 'final') as Extract<SttEvent, { type: 'final' }>;
    expect(eager.text).toBe('where is my order');
    expect(final).toMatchObject({ text: eager.text, endOfTurn: true });
    expect(final.words.map((w) => w.word)).toEqual(['where', 'is', 'my', 'order']);
    // The eager end comes 200 ms of silence after speech, the end of turn at 350 ms (ramp 500 ms).
    expect(eager.end).toBeCloseTo(1.6, 1);
    expect(final.end).toBeCloseTo(1.75, 1);
    expect(e.record.connections[0]!.query).toMatchObject({ model: 'flux-general-en', encoding: 'linear16', sample_rate: '16000', eager_eot_threshold: '0.4' });
  });

  it('reports TurnResumed when the user goes on after an eager end, and the turn holds both stretches', async () => {
    const e = await start(['I want to', 'cancel my plan']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL, eagerEotThreshold: 0.4 });
    const events = await collect(stt.transcribe(concat(utteranceFrames(700, 200, 280), utteranceFrames(800, 0, 700))));
    expect(kinds(events)).toEqual(['speech_started', 'interim', 'eager_end_of_turn', 'turn_resumed', 'interim', 'eager_end_of_turn', 'final']);
    const eagers = events.filter((x) => x.type === 'eager_end_of_turn') as Extract<SttEvent, { type: 'eager_end_of_turn' }>[];
    expect(eagers.map((x) => x.text)).toEqual(['I want to', 'I want to cancel my plan']);
    expect(events.at(-1)).toMatchObject({ type: 'final', text: 'I want to cancel my plan', endOfTurn: true });
  });

  it('sends no eager events without eagerEotThreshold; times run across turns', async () => {
    const e = await start(['first turn', 'second turn']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    const events = await collect(stt.transcribe(concat(utteranceFrames(700, 200, 600), utteranceFrames(700, 0, 600))));
    expect(events.some((x) => x.type === 'eager_end_of_turn' || x.type === 'turn_resumed')).toBe(false);
    const finals = events.filter((x) => x.type === 'final') as Extract<SttEvent, { type: 'final' }>[];
    expect(finals.map((f) => f.text)).toEqual(['first turn', 'second turn']);
    expect(finals[1]!.words[0]!.start).toBeCloseTo(1.5, 1);
  });

  it('ends a turn on forceEndTurn() when eot_threshold 1.0 leaves the ends to the client', async () => {
    const e = await start(['push to talk']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL, eotThreshold: 1, eotTimeoutMs: 60_000 });
    const t = stt.transcribe(paced(await utteranceFrames(800, 200, 1200)));
    const events: SttEvent[] = [];
    for await (const ev of t) {
      events.push(ev);
      if (ev.type === 'interim' && ev.text === 'push to talk') t.forceEndTurn();
    }
    expect(e.record.messages).toContainEqual({ type: 'ForceEndTurn' });
    expect(events.filter((x) => x.type === 'final')).toMatchObject([{ text: 'push to talk', endOfTurn: true }]);
  });

  it('ends a turn after eot_timeout_ms whatever the confidence', async () => {
    const e = await start(['slow speaker']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL, eotThreshold: 1, eotTimeoutMs: 500 });
    const events = await collect(stt.transcribe(concat(utteranceFrames(700, 200, 900))));
    const final = events.find((x) => x.type === 'final') as Extract<SttEvent, { type: 'final' }>;
    expect(final.text).toBe('slow speaker');
    expect(final.end).toBeCloseTo(1.4, 1);
  });

  it('changes the thresholds mid-stream with configure(), and keeps them after a reconnection', async () => {
    const e = await start(['one', 'two']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    e.inject({ closeMidStream: { afterMs: 700 } });
    const t = stt.transcribe(paced([...(await utteranceFrames(300, 100, 400)), ...(await utteranceFrames(600, 0, 700))]));
    const done = collect(t);
    await new Promise((r) => setTimeout(r, 100));
    await t.configure({ eagerEotThreshold: 0.4, eotThreshold: 0.8 });
    expect(e.record.messages).toContainEqual({ type: 'Configure', thresholds: { eager_eot_threshold: 0.4, eot_threshold: 0.8 } });
    const events = await done;
    expect(kinds(events)).toContain('eager_end_of_turn');
    expect(e.record.connections.length).toBe(2);
    expect(e.record.connections[1]!.query).toMatchObject({ eager_eot_threshold: '0.4', eot_threshold: '0.8' });
    await expect(t.configure({ eotThreshold: 0.2 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('ends cleanly when Flux closes without a status code after CloseStream, as documented', async () => {
    const e = await start(['all done here']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    const events = await collect(stt.transcribe(concat(utteranceFrames(800, 200, 600))));
    expect(events.filter((x) => x.type === 'final')).toMatchObject([{ text: 'all done here', endOfTurn: true }]);
    // No reconnection, no second CloseStream.
    expect(e.record.connections.length).toBe(1);
    expect(e.record.messages).toEqual([{ type: 'CloseStream' }]);
  });

  it('a close without a status code before CloseStream is a drop: it reconnects and the turn is kept', async () => {
    const e = await start(['one two three four']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    e.inject({ closeMidStream: { afterMs: 600, code: 1005 } });
    const events = await collect(stt.transcribe(paced(await utteranceFrames(900, 200, 700))));
    expect(e.record.connections.length).toBe(2);
    expect(events.filter((x) => x.type === 'final')).toMatchObject([{ text: 'one two three four', endOfTurn: true }]);
  });

  it('input that ends mid-turn: the turn’s last Update stands as its final (CloseStream sends no EndOfTurn)', async () => {
    const e = await start(['cancel my subscription']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    const events = await collect(stt.transcribe(concat(utteranceFrames(900, 200, 0))));
    const finals = events.filter((x) => x.type === 'final') as Extract<SttEvent, { type: 'final' }>[];
    expect(finals).toMatchObject([{ text: 'cancel my subscription', endOfTurn: true }]);
    expect(finals[0]!.words.map((w) => w.word)).toEqual(['cancel', 'my', 'subscription']);
    expect(finals[0]!.end).toBeCloseTo(1.1, 1);
    expect(e.record.connections.length).toBe(1);
  });

  it('a turn left open is not reported twice: a turn the model ended is not repeated at the close', async () => {
    const e = await start(['first turn', 'and the second']);
    const stt = new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL });
    const events = await collect(stt.transcribe(concat(utteranceFrames(700, 200, 600), utteranceFrames(700, 0, 0))));
    expect(events.filter((x) => x.type === 'final').map((f) => (f as { text: string }).text)).toEqual(['first turn', 'and the second']);
  });

  it('refuses settings out of Deepgram’s ranges at construction', () => {
    expect(() => new DeepgramFluxStt({ apiKey: 'dg', eagerEotThreshold: 0.95 })).toThrow(ConfigError);
    expect(() => new DeepgramFluxStt({ apiKey: 'dg', eotThreshold: 0.6, eagerEotThreshold: 0.7 })).toThrow(/must not exceed/);
    expect(() => new DeepgramFluxStt({ apiKey: 'dg', eotTimeoutMs: 100 })).toThrow(ConfigError);
  });
});

describe('DeepgramFluxStt in a VoiceSession', () => {
  it('StartOfTurn drives barge-in: a one-word interjection stops the agent', async () => {
    const { VoiceSession, OpenAiLlm, ElevenLabsTts, toneSynthesizer } = await import('../../src/index');
    const { virtualSpeaker } = await import('../../src/adapters/index');
    const { OpenAiEmulator, ElevenLabsEmulator, ScriptedCaller } = await import('../../src/testing/index');
    const lines = ['Tell me a story please', { text: 'Stop', cue: { after: 'agent_speaking' as const, delayMs: 1200 } }];
    const flux = await start(lines.map((l) => (typeof l === 'string' ? l : l.text)));
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3 });
    await Promise.all([oa.start(), el.start()]);
    try {
      const session = new VoiceSession({
        stt: new DeepgramFluxStt({ apiKey: 'dg', baseURL: flux.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      });
      const interrupted: unknown[] = [];
      session.on('interrupted', (x) => interrupted.push(x));
      const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }) });
      await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000 }) });
      expect(interrupted.length).toBe(1);
      expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
      expect(String(session.history[1]!.content).endsWith('…')).toBe(true);
      expect(session.history[2]).toEqual({ role: 'user', content: 'Stop' });
    } finally {
      await Promise.all([oa.close(), el.close()]);
    }
  });
});

describe('DeepgramFluxStt in a VoiceSession, input ending mid-utterance', () => {
  it('the user’s last words still make a turn and get an answer', async () => {
    const { VoiceSession, OpenAiLlm, ElevenLabsTts, toneSynthesizer } = await import('../../src/index');
    const { virtualSpeaker } = await import('../../src/adapters/index');
    const { OpenAiEmulator, ElevenLabsEmulator } = await import('../../src/testing/index');
    const flux = await start(['what time is it']);
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20, tokensPerSecond: 200, responder: () => ({ content: 'It is noon.' }) });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 5 }), timeToFirstAudioMs: 20, realtimeFactor: 0.1 });
    await Promise.all([oa.start(), el.start()]);
    try {
      const session = new VoiceSession({
        stt: new DeepgramFluxStt({ apiKey: 'dg', baseURL: flux.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      });
      // The microphone stops while the caller is still speaking.
      await session.run({ input: paced(await utteranceFrames(900, 200, 0)), output: virtualSpeaker({ sampleRate: 16000 }) });
      expect(session.history).toEqual([{ role: 'user', content: 'what time is it' }, { role: 'assistant', content: 'It is noon.' }]);
    } finally {
      await Promise.all([oa.close(), el.close()]);
    }
  });
});
