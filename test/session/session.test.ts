import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, DeepgramStt, ElevenLabsTts, OpenAiLlm, ProviderError, VoiceSession, tool, toneSynthesizer, type VoiceSessionOptions, type TurnEvent } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock, type CallerLine, type OpenAiEmulatorOptions } from '../../src/testing/index';

// Every delay (caller, emulators, speaker, session timers) on one virtual clock: the calls run as fast
// as the CPU allows, with the same events and latencies every run.
const clock = virtualClock();

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order', description: 'Look up an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: async ({ order_id }) => ({ order_id, status: 'shipped' }),
});

async function converse(lines: (string | CallerLine)[], opts: Partial<VoiceSessionOptions> = {}, llmOpts: OpenAiEmulatorOptions = {}) {
  const script = lines.map((l) => (typeof l === 'string' ? l : l.text));
  const dg = new DeepgramEmulator({ script, clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80, clock, ...llmOpts });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    instructions: 'You are a test agent.',
    clock,
    ...opts,
  });
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  const events: { name: string; data: unknown }[] = [];
  for (const name of ['turn', 'interrupted', 'tool_call', 'tool_result', 'error', 'closed', 'user_turn', 'agent_speech_started'] as const) {
    session.on(name, (data: unknown) => events.push({ name, data }));
  }
  const output = virtualSpeaker({ sampleRate: 16000, clock });
  await session.run({ input: caller.input(session, 800), output });
  return { session, events, caller, output, oa, dg, el, of: (n: string) => events.filter((e) => e.name === n).map((e) => e.data as any) };
}

describe('VoiceSession end to end', () => {
  it('holds a multi-turn conversation with a tool call and hangs up on a phrase', async () => {
    const { session, of } = await converse(['Hello there', 'Where is order A-17 now', 'Great thanks goodbye'], { tools: [lookupOrder], hangUpPhrases: ['goodbye'], goodbye: 'Bye now.', greeting: 'Hi, this is the test line.' });
    expect(session.history.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant']);
    expect(session.history[0]!.content).toBe('Hi, this is the test line.');
    expect(session.history[2]!.content).toBe('Hello! How can I help you today?');
    expect(JSON.parse(session.history[5]!.content as string)).toEqual({ order_id: 'A-17', status: 'shipped' });
    expect(session.history[6]!.content).toContain('status shipped');
    expect(session.history.at(-1)!.content).toBe('Bye now.');
    expect(of('tool_call')[0]).toMatchObject({ name: 'lookup_order' });
    expect(of('tool_result')[0].outcome.ok).toBe(true);
    expect(of('closed')).toEqual([{ reason: 'hang-up' }]);
    const turns: TurnEvent[] = of('turn');
    expect(turns.length).toBe(2);
    for (const t of turns) {
      expect(t.latency.voiceToVoice).toBeGreaterThan(t.latency.stt + t.latency.llmTtft);
      expect(t.latency.stt).toBeGreaterThan(100); // 140 ms endpointing of audio, give or take a frame
      expect(t.latency.llmTtft).toBeGreaterThanOrEqual(55);
    }
    expect(session.metrics.summary().voiceToVoice.count).toBe(2);
    expect(session.transcript.filter((e) => e.role === 'user').map((e) => e.text)).toEqual(['Hello there', 'Where is order A-17 now', 'Great thanks goodbye']);
    expect(session.usage.llmCompletionTokens).toBeGreaterThan(0);
    expect(session.usage.ttsCharacters).toBeGreaterThan(50);
  });

  it('stops on barge-in, keeps only what was heard, and answers the interruption', async () => {
    const { session, of, output } = await converse(['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }]);
    const [intr] = of('interrupted');
    expect(intr).toBeTruthy();
    expect(output.clears.length).toBe(1);
    expect(intr.latencyMs).toBeLessThan(50);
    const story = session.history[1]!;
    expect(story.role).toBe('assistant');
    expect(String(story.content).endsWith('…')).toBe(true);
    const heard = String(story.content).slice(0, -1);
    expect(heard.length).toBeGreaterThan(5);
    expect(intr.fullText.startsWith(heard)).toBe(true);
    expect(heard.length).toBeLessThan(intr.fullText.length);
    expect(session.history[2]).toEqual({ role: 'user', content: 'Wait what are your hours' });
    expect(session.history[3]!.content).toContain('Wait what are your hours');
    expect(session.transcript.find((e) => e.interrupted)?.text).toBe(heard);
  });

  it("the caller's line after a barge-in waits for the answer to the barge-in (ScriptedCaller's default cue)", async () => {
    // The offline demo's shape: a story, a barge-in, then a plain line. The reply cut off by the
    // barge-in ended after the barge-in line began; that is not the agent finishing its answer.
    const { session, of } = await converse(['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }, 'Thanks that is all']);
    expect(of('interrupted').length).toBe(1);
    const agent = session.transcript.filter((e) => e.role === 'agent');
    expect(agent.length).toBe(3);
    expect(agent[1]!.interrupted).toBeUndefined();
    expect(agent[1]!.text).toContain('Wait what are your hours');
  });

  it('ignores a backchannel shorter than the barge-in minimum', async () => {
    const { session, of } = await converse(['Tell me a story please', { text: 'Mhm', cue: { after: 'agent_speaking', delayMs: 900 } }]);
    expect(of('interrupted')).toEqual([]);
    expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(String(session.history[1]!.content)).toMatch(/interests you most\.$/);
  });

  it('speaks a filler while a slow tool runs, and reports a failing tool to the model', async () => {
    const slow = tool({ name: 'lookup_order', description: '', parameters: { type: 'object' }, execute: async () => { await clock.sleep(1500); throw new Error('warehouse offline'); } });
    const { session, of } = await converse(['Where is order B-2'], { tools: [slow], toolFiller: { text: 'One moment please.', afterMs: 300 } });
    expect(of('tool_result')[0].outcome.ok).toBe(false);
    const agent = session.transcript.filter((e) => e.role === 'agent').map((e) => e.text).join(' ');
    expect(agent).toContain('One moment please.');
    expect(agent).toContain('there was a problem: Tool');
    expect(agent).toContain('warehouse offline');
  });
});

describe('VoiceSession failure policies', () => {
  it('apologises after an LLM failure mid-stream and goes on', async () => {
    const emuHook: OpenAiEmulatorOptions = {};
    const dg = new DeepgramEmulator({ script: ['Tell me a story please', 'Hello again'], clock });
    emus.push(dg);
    const run = await (async () => {
      const oa = new OpenAiEmulator({ timeToFirstTokenMs: 30, clock, ...emuHook });
      emus.push(oa);
      await oa.start();
      oa.inject({ closeMidStream: { afterMessages: 4 } });
      const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 30 }), timeToFirstAudioMs: 30, clock });
      emus.push(el);
      await Promise.all([dg.start(), el.start()]);
      const session = new VoiceSession({ stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }), llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }), tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }), apology: 'Sorry, say again?', clock });
      const errors: unknown[] = [];
      session.on('error', (e) => errors.push(e));
      const caller = new ScriptedCaller({ lines: ['Tell me a story please', 'Hello again'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
      await session.run({ input: caller.input(session, 500), output: virtualSpeaker({ clock }) });
      return { session, errors };
    })();
    expect(run.errors[0]).toBeInstanceOf(ProviderError);
    const said = run.session.transcript.filter((e) => e.role === 'agent').map((e) => e.text);
    expect(said).toContain('Sorry, say again?');
    expect(said.at(-1)).toBe('Hello! How can I help you today?');
  });

  it('closes cleanly on a provider failure when the policy says so', async () => {
    const dg = new DeepgramEmulator({ script: ['Hello there', 'Hello again'], clock });
    const oa = new OpenAiEmulator({ apiKey: 'right', timeToFirstTokenMs: 30, clock });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), clock });
    emus.push(dg, oa, el);
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const session = new VoiceSession({ stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }), llm: new OpenAiLlm({ apiKey: 'wrong-key-sentinel', baseURL: oa.baseURL, model: 'm' }), tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL }), onProviderError: 'close', clock });
    const errors: any[] = [];
    const closed: any[] = [];
    session.on('error', (e) => errors.push(e));
    session.on('closed', (c) => closed.push(c));
    const caller = new ScriptedCaller({ lines: ['Hello there', 'Hello again'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
    await expect(session.run({ input: caller.input(session, 500), output: virtualSpeaker({ clock }) })).rejects.toMatchObject({ code: 'auth_error' });
    expect(errors[0].code).toBe('auth_error');
    expect(errors[0].message).not.toContain('wrong-key-sentinel');
    expect(closed).toEqual([{ reason: 'provider error' }]);
    expect(caller.spoken.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(dg.openConnections + el.openConnections).toBe(0);
  });

  // A new user's first mistake is a wrong key: run() must not resolve as if the call went well.
  for (const wrong of ['stt', 'llm', 'tts'] as const) {
    it(`run() rejects with the AuthError when the ${wrong} refuses its key, with no error listener (default policy)`, async () => {
      const dg = new DeepgramEmulator({ apiKey: 'right', script: ['Hello there', 'Hello again'], clock });
      const oa = new OpenAiEmulator({ apiKey: 'right', timeToFirstTokenMs: 30, clock });
      const el = new ElevenLabsEmulator({ apiKey: 'right', synthesizer: toneSynthesizer(), clock });
      emus.push(dg, oa, el);
      await Promise.all([dg.start(), oa.start(), el.start()]);
      const key = (stage: typeof wrong) => (stage === wrong ? 'wrong-key-sentinel' : 'right');
      const session = new VoiceSession({
        stt: new DeepgramStt({ apiKey: key('stt'), baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: key('llm'), baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: key('tts'), voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
        clock,
      });
      const closed: unknown[] = [];
      session.on('closed', (c) => closed.push(c));
      const caller = new ScriptedCaller({ lines: ['Hello there', 'Hello again'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
      const err = await session.run({ input: caller.input(session, 500), output: virtualSpeaker({ clock }) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).message).not.toContain('wrong-key-sentinel');
      expect(closed).toEqual([{ reason: wrong === 'stt' ? 'stt failed' : 'provider error' }]);
      // The call ended at the first failure: the caller's second line was never answered.
      expect(session.transcript.filter((e) => e.role === 'agent')).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
      expect(dg.openConnections + el.openConnections).toBe(0);
    });
  }
});

describe('VoiceSession usage and budget', () => {
  it('estimates cost from a price table and ends the call politely at the budget', async () => {
    const dg = new DeepgramEmulator({ script: ['Hello there', 'Hello again'], clock });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 30, clock });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 30, clock });
    emus.push(dg, oa, el);
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      prices: { sttPerMinute: 0.01, llmPromptPer1k: 0.5, llmCompletionPer1k: 1.5, ttsPer1kChars: 0.3 },
      budget: 0.005,
      goodbye: 'Sorry, I have to go now.',
      clock,
    });
    const closed: unknown[] = [];
    session.on('closed', (c) => closed.push(c));
    const caller = new ScriptedCaller({ lines: ['Hello there', 'Hello again'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
    await session.run({ input: caller.input(session, 500), output: virtualSpeaker({ clock }) });
    expect(closed).toEqual([{ reason: 'budget reached' }]);
    expect(session.cost).toBeGreaterThanOrEqual(0.005);
    expect(session.history.at(-1)).toEqual({ role: 'assistant', content: 'Sorry, I have to go now.' });
    expect(session.usage.llmPromptTokens).toBeGreaterThan(0);
    expect(session.history.some((m) => m.content === 'Hello again')).toBe(false); // the call ended before it
  }, 30_000);
});
