import { afterEach, describe, expect, it } from 'vitest';
import { ElevenLabsTts, OpenAiLlm, VoiceSession, tool, toneSynthesizer, type AudioFrame, type ChatMessage, type LlmStream, type SttEvent, type TurnEvent, type Vad, type VadEvent, type VoiceSessionOptions } from '../../src/index';
import { Channel } from '../../src/streams/channel';
import { virtualSpeaker } from '../../src/adapters/index';
import { ElevenLabsEmulator, OpenAiEmulator, type ChatRequest } from '../../src/testing/index';
import { sleep, spyTts } from '../helpers';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

const lastUser = (req: ChatRequest) => String([...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '');
const word = (text: string) => ({ word: text, start: 0, end: 0 });
const final = (text: string): SttEvent => ({ type: 'final', text, words: [], endOfTurn: true, start: 0, end: 0 });
const eager = (text: string): SttEvent => ({ type: 'eager_end_of_turn', text, words: text.split(' ').map(word), start: 0, end: 0 });

/** `llm`, noting the messages of each request it is asked for. */
function countingLlm(llm: LlmStream, prompts: ChatMessage[][]): LlmStream {
  return { provider: llm.provider, model: llm.model, instructions: llm.instructions, respond: (history, options) => (prompts.push([...history]), llm.respond(history, options)) };
}

/**
 * A session whose STT says what the test scripts (as a Flux-like provider would), with the real
 * OpenAI-compatible and ElevenLabs clients against their emulators. Every frame written to the
 * output is kept, to tell which synthesis it came from.
 */
async function setup(responder: (req: ChatRequest) => { content?: string; toolCalls?: { name: string; arguments: Record<string, unknown> }[] }, opts: Partial<VoiceSessionOptions> = {}) {
  let llmCalls = 0;
  const prompts: ChatMessage[][] = [];
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 150, tokensPerSecond: 200, responder: (req) => (llmCalls++, responder(req)) });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 60, realtimeFactor: 0.3 });
  emus.push(oa, el);
  await Promise.all([oa.start(), el.start()]);
  const spy = spyTts(new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }));
  const stt = new Channel<SttEvent>(16);
  const session = new VoiceSession({
    stt: { provider: 'scripted', sampleRate: 16000, transcribe: (audio, o) => { o?.signal?.addEventListener('abort', () => stt.close()); void (async () => { for await (const _ of audio); })().catch(() => {}); return { [Symbol.asyncIterator]: () => stt[Symbol.asyncIterator](), finalize() {} }; } },
    llm: countingLlm(new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }), prompts),
    tts: spy.tts,
    ...opts,
  });
  const output = virtualSpeaker({ sampleRate: 16000 });
  const written: AudioFrame[] = [];
  const write = output.write.bind(output);
  output.write = (f) => { written.push(f); return write(f); };
  const events: Record<string, unknown[]> = {};
  for (const name of ['turn', 'preemption', 'agent_speech_started', 'tool_call'] as const) session.on(name, (e: unknown) => (events[name] ??= []).push(e));
  const input = (async function* () { for (let i = 0; i < 500 && !stt.isClosed; i++) { await sleep(20); yield { samples: new Int16Array(320), sampleRate: 16000 }; } })();
  const running = session.run({ input, output });
  /** Says the STT events in turn (a number waits that many ms), then waits for the reply to end and the session to close. */
  const play = async (...steps: (SttEvent | number | (() => void))[]) => {
    const spoke = new Promise<void>((r) => session.once('agent_speech_ended', () => r()));
    for (const step of steps) if (typeof step === 'number') await sleep(step); else if (typeof step === 'function') step(); else stt.offer(step);
    await spoke;
    stt.close();
    await running;
  };
  return { session, stt, spy, written, events, play, oa, prompts, llmCalls: () => llmCalls };
}

describe('preemptive replies', () => {
  it('a hit: the reply prepared on the eager end of turn plays as soon as the turn is confirmed', async () => {
    const t = await setup((req) => ({ content: `Sure. Your order ${lastUser(req).includes('order') ? 'ships today' : 'is lost'}.` }));
    await t.play(eager('Where is my order'), 500, final('Where is my order?'));
    const [turn] = t.events.turn as TurnEvent[];
    expect(turn!.preemption).toEqual({ hit: true, misses: 0, wastedTokens: 0, wastedChars: 0 });
    expect(turn!.latency.headStart).toBeGreaterThan(400);
    expect(turn!.latency.llmTtft).toBeGreaterThanOrEqual(140);
    // from the STT's final to the first audio out: the audio was ready; without preemption it
    // would be at least the LLM's 150 ms and the TTS's 60 ms
    expect(turn!.timestamps.firstAudioOut! - turn!.timestamps.sttFinal).toBeLessThan(100);
    expect(t.session.history).toEqual([{ role: 'user', content: 'Where is my order?' }, { role: 'assistant', content: 'Sure. Your order ships today.' }]);
    expect(t.session.metrics.preemption).toEqual({ hits: 1, misses: 0, wastedTokens: 0, wastedChars: 0 });
    expect(t.llmCalls()).toBe(1);
  });

  it('a miss is never heard: a different final drops the speculative reply (its first clause only went to TTS, its tool never ran) and answers the final', async () => {
    let cancelled = 0;
    const cancelOrder = tool({ name: 'cancel_order', description: 'Cancel the order', parameters: { type: 'object' }, execute: async () => { cancelled++; return { ok: true }; } });
    const t = await setup((req) => {
      const said = lastUser(req);
      if (req.messages.at(-1)?.role === 'tool') return { content: 'Done. It is cancelled.' };
      if (said === 'I want to cancel') return { toolCalls: [{ name: 'cancel_order', arguments: {} }] };
      return { content: `Sure. You said ${said}. Anything else?` };
    }, { tools: [cancelOrder] });
    await t.play(eager('I want to cancel'), 400, final('I want to check my order'));
    expect(cancelled).toBe(0);
    expect(t.events.tool_call).toBeUndefined();
    expect(t.events.preemption).toEqual([{ hit: false, text: 'I want to cancel', wastedTokens: expect.any(Number), wastedChars: 0 }]);
    expect(t.session.history).toEqual([{ role: 'user', content: 'I want to check my order' }, { role: 'assistant', content: 'Sure. You said I want to check my order. Anything else?' }]);
    expect(t.session.transcript.filter((e) => e.role === 'agent').map((e) => e.text)).toEqual(['Sure. You said I want to check my order. Anything else?']);
    expect((t.events.turn as TurnEvent[])[0]!.preemption).toMatchObject({ hit: false, misses: 1 });
    expect(t.session.metrics.preemption).toMatchObject({ hits: 0, misses: 1 });
    expect(t.llmCalls()).toBe(2);
  });

  it('a miss after its first clause was synthesised: none of its audio reaches the output', async () => {
    const t = await setup((req) => ({ content: `Sure. You said ${lastUser(req)}. Anything else?` }));
    await t.play(eager('Book a table'), 500, final('Book a table for two'));
    const [spec, real] = t.spy.replies;
    expect(spec!.chunks).toEqual(['Sure.']); // only the first clause went to TTS
    expect(spec!.frames.length).toBeGreaterThan(0); // and it was synthesised
    expect(t.written.some((f) => spec!.frames.includes(f))).toBe(false);
    expect(t.written.filter((f) => real!.frames.includes(f)).length).toBe(t.written.length);
    const [miss] = t.events.preemption as { hit: boolean; wastedChars: number; wastedTokens: number }[];
    expect(miss).toMatchObject({ hit: false, wastedChars: 'Sure.'.length });
    expect(miss!.wastedTokens).toBeGreaterThan(0);
    expect((t.events.agent_speech_started as { text: string }[]).map((e) => e.text)).toEqual([expect.stringMatching(/^Sure\./)]);
    expect(t.session.history.map((m) => m.content)).toEqual(['Book a table for two', 'Sure. You said Book a table for two. Anything else?']);
  });

  it('turn_resumed drops it; preemptive: false never speculates', async () => {
    const t = await setup((req) => ({ content: `Sure. You said ${lastUser(req)}.` }));
    await t.play(eager('I need'), 100, { type: 'turn_resumed' }, 50, final('I need help'));
    expect(t.events.preemption).toEqual([expect.objectContaining({ hit: false, text: 'I need' })]);
    expect(t.session.history.at(-1)).toEqual({ role: 'assistant', content: 'Sure. You said I need help.' });

    const off = await setup((req) => ({ content: `Sure. You said ${lastUser(req)}.` }), { preemptive: false });
    await off.play(eager('Hello there'), 300, final('Hello there'));
    expect(off.llmCalls()).toBe(1);
    expect(off.events.preemption).toBeUndefined();
    expect((off.events.turn as TurnEvent[])[0]!.preemption).toBeUndefined();
    expect((off.events.turn as TurnEvent[])[0]!.latency.headStart).toBe(0);
  });

  it('with a local VAD: a stable transcript (the same interim twice), once the VAD hears silence, starts the reply', async () => {
    const vadEvents: VadEvent[] = [];
    const vad: Vad = { speaking: false, reset() {}, process: () => vadEvents.splice(0) };
    const t = await setup((req) => ({ content: `Sure. You said ${lastUser(req)}.` }), { vad });
    const interim = (text: string): SttEvent => ({ type: 'interim', text, words: [] });
    // the first interim is not yet stable; the VAD's silence alone does not start a reply
    await t.play(interim('Where is'), interim('Where is my order'), 50, () => vadEvents.push({ type: 'speech_end', timeMs: 0, probability: 0.1 }), 300, () => expect(t.llmCalls()).toBe(0), interim('Where is my order'), 500, final('Where is my order?'));
    const [turn] = t.events.turn as TurnEvent[];
    expect(turn!.preemption).toMatchObject({ hit: true });
    expect(turn!.latency.headStart).toBeGreaterThan(400);
    expect(t.llmCalls()).toBe(1);
  });

  it('EagerEndOfTurn/TurnResumed 200 times in a turn: at most maxSpeculativeRequests (default 3) speculative requests, each counted in usage, cost and the waste report', async () => {
    const prices = { llmPromptPer1k: 1, llmCompletionPer1k: 1, ttsPer1kChars: 0 };
    const run = async (opts: Partial<VoiceSessionOptions>) => {
      const t = await setup((req) => ({ content: `Sure. You said ${lastUser(req)}.` }), { prices, instructions: 'You are the order desk of a small shop. '.repeat(8), ...opts });
      const steps: (SttEvent | number)[] = [];
      for (let i = 0; i < 200; i++) steps.push(eager(`Where is my order number ${i}`), 8, { type: 'turn_resumed' }, 2);
      await t.play(...steps, final('Where is my order?'));
      // what the provider was sent, as it counts it
      const sent = (t.oa.record.bodies as { messages: unknown[] }[]).reduce((n, b) => n + Math.ceil(JSON.stringify(b.messages).length / 4), 0);
      return { t, sent, counted: t.session.usage.llmPromptTokens };
    };
    const { t, sent, counted } = await run({});
    // three speculations, dropped, then the real turn (a speculation aborted before its request went out makes none)
    expect((t.events.preemption as unknown[]).length).toBe(3);
    expect((t.events.turn as TurnEvent[])[0]!.preemption).toMatchObject({ hit: false, misses: 3 });
    expect(t.prompts.length).toBeLessThanOrEqual(4);
    expect(t.llmCalls()).toBeLessThanOrEqual(t.prompts.length);
    // every request counted: what the provider received, and those cut before it arrived, by the same 4-characters-a-token rule
    expect(counted).toBeGreaterThanOrEqual(sent);
    expect(counted).toBe(t.prompts.reduce((n, m) => n + Math.ceil(JSON.stringify(m).length / 4), 0));
    expect(t.session.cost).toBeGreaterThanOrEqual((sent + t.session.usage.llmCompletionTokens) / 1000);

    const one = await run({ maxSpeculativeRequests: 1 });
    expect((one.t.events.preemption as unknown[]).length).toBe(1);
    expect(one.t.prompts.length).toBeLessThanOrEqual(2);
    expect(one.counted).toBeGreaterThanOrEqual(one.sent);
  }, 30_000);

  it('maxSpeculativeRequests is checked at construction', () => {
    const base = { stt: { provider: 's', sampleRate: 16000, transcribe: () => [] }, llm: { provider: 'l', model: 'm', respond: async function* () {} }, tts: { provider: 't', sampleRate: 16000, synthesize: async function* () {} } } as unknown as VoiceSessionOptions;
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => new VoiceSession({ ...base, maxSpeculativeRequests: bad })).toThrow(/maxSpeculativeRequests must be a whole number, 0 or more/);
    expect(() => new VoiceSession({ ...base, maxSpeculativeRequests: 0 })).not.toThrow();
  });
});
