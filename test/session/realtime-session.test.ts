import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ElevenLabsTts, ToolError, OpenAiRealtime, ProviderError, VoiceSession, tool, toneSynthesizer, type RealtimeSessionOptions, type TurnEvent } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { ElevenLabsEmulator, RealtimeEmulator, ScriptedCaller, virtualClock, type CallerLine, type RealtimeEmulatorOptions } from '../../src/testing/index';

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order', description: 'Look up an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: async ({ order_id }) => ({ order_id, status: 'shipped' }),
});

async function converse(lines: (string | CallerLine)[], opts: Partial<RealtimeSessionOptions> = {}, emuOpts: RealtimeEmulatorOptions = {}, during?: (s: VoiceSession, emu: RealtimeEmulator) => void, maxReconnects = 1, mode: 'audio' | 'text' = 'audio') {
  const emu = new RealtimeEmulator({ script: lines.map((l) => (typeof l === 'string' ? l : l.text)), synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 80, realtimeFactor: 0.3, transcriptionDelayMs: 30, ...emuOpts });
  emus.push(emu);
  await emu.start();
  const session = new VoiceSession({
    realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: emu.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 140 }, maxReconnects, output: mode }),
    instructions: 'You are a test agent.',
    ...opts,
  });
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }) });
  const events: { name: string; data: any }[] = [];
  for (const name of ['turn', 'interrupted', 'tool_call', 'tool_result', 'error', 'closed', 'user_turn', 'usage'] as const) session.on(name, (data: unknown) => events.push({ name, data }));
  during?.(session, emu);
  const output = virtualSpeaker({ sampleRate: 16000 });
  const result = await session.run({ input: caller.input(session, 800), output }).then(() => undefined, (err: unknown) => err);
  return { session, events, output, emu, result, of: (n: string) => events.filter((e) => e.name === n).map((e) => e.data) };
}

describe('VoiceSession with a realtime model', () => {
  it('greets, calls a tool with the same validation and hooks, records history and metrics, and hangs up on a phrase', async () => {
    const seen: string[] = [];
    const { session, of, emu, result } = await converse(['Hello there', 'Where is order A-17 now', 'Great thanks goodbye'], {
      tools: [lookupOrder], hangUpPhrases: ['goodbye'], goodbye: 'Bye now.', greeting: 'Hi, this is the test line.',
      toolHooks: { beforeToolCall: (c) => void seen.push(`before ${c.name}`), afterToolCall: (c, o) => void seen.push(`after ${c.name} ${o.ok}`) },
    });
    expect(result).toBeUndefined();
    expect(session.history.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant']);
    expect(session.history[0]!.content).toBe('Hi, this is the test line.');
    expect(session.history[2]!.content).toBe('Hello! How can I help you today?');
    expect(JSON.parse(session.history[5]!.content as string)).toEqual({ order_id: 'A-17', status: 'shipped' });
    expect(session.history[6]!.content).toBe('I checked that for you: order id A-17, status shipped. Is there anything else?');
    expect(session.history.at(-1)!.content).toBe('Bye now.');
    expect(seen).toEqual(['before lookup_order', 'after lookup_order true']);
    expect(of('tool_call')[0]).toMatchObject({ name: 'lookup_order' });
    expect(of('tool_result')[0].outcome.ok).toBe(true);
    expect(of('closed')).toEqual([{ reason: 'hang-up' }]);
    expect(of('user_turn').map((t) => t.text)).toEqual(['Hello there', 'Where is order A-17 now', 'Great thanks goodbye']);
    const turns: TurnEvent[] = of('turn');
    expect(turns.map((t) => t.userText)).toEqual(['Hello there', 'Where is order A-17 now']);
    for (const t of turns) {
      // 140 ms of silence waited for, then the model's 80 ms to first audio (the in-process emulator's
      // synthesis can delay the client's reading of speech_stopped, moving time from one to the other).
      expect(t.latency.stt).toBeGreaterThan(100);
      expect(t.latency.llmTtft).toBeGreaterThan(0);
      expect(t.latency.stt + t.latency.llmTtft).toBeGreaterThanOrEqual(200);
      expect(t.latency.voiceToVoice).toBeGreaterThanOrEqual(t.latency.stt + t.latency.llmTtft);
    }
    expect(session.metrics.summary().voiceToVoice.count).toBe(2);
    expect(session.usage.llmCompletionTokens).toBeGreaterThan(0);
    expect(of('usage').length).toBeGreaterThanOrEqual(4);
    // The function call went to the model as a function_call_output item.
    const out = emu.record.messages.find((m) => m.type === 'conversation.item.create') as any;
    expect(out.item).toMatchObject({ type: 'function_call_output', output: JSON.stringify({ order_id: 'A-17', status: 'shipped' }) });
  });

  it('rejects invalid tool arguments with the same validation as the pipeline', async () => {
    const strict = tool<{ order_id: number }>({ name: 'lookup_order', description: 'Look up', parameters: { type: 'object', properties: { order_id: { type: 'number' } }, required: ['order_id'] }, execute: () => 'never' });
    const { of, emu } = await converse(['Where is order A-17 now'], { tools: [strict] });
    const r = of('tool_result')[0];
    expect(r.outcome.ok).toBe(false);
    expect(r.outcome.error.message).toMatch(/Invalid arguments/);
    const out = emu.record.messages.find((m) => m.type === 'conversation.item.create') as any;
    expect(JSON.parse(out.item.output).error).toMatch(/Invalid arguments/);
  });

  it('a tool step that fails outside the tool (a BigInt result, a hook that throws) is a ToolError outcome the model sees; the call goes on', async () => {
    const bigint = tool<{ order_id: string }>({ ...lookupOrder, execute: async ({ order_id }) => ({ order_id, count: 10n }) });
    const steps: [string, Partial<RealtimeSessionOptions>][] = [
      ['a result JSON cannot hold', { tools: [bigint] }],
      ['a hook that throws', { tools: [lookupOrder], toolHooks: { afterToolCall: () => { throw new Error('audit log is down'); } } }],
    ];
    for (const [what, opts] of steps) {
      const { session, of, result, emu } = await converse(['Where is order A-17 now', { text: 'Hello there', cue: { after: 'previous', pauseMs: 2000 } }], opts);
      expect(result, what).toBeUndefined();
      // The step's failure is the call's ToolError outcome, as in the pipeline (callTool never throws).
      const [r] = of('tool_result');
      expect(r.outcome.ok, what).toBe(false);
      expect(r.outcome.error, what).toBeInstanceOf(ToolError);
      expect(r.outcome.error.message, what).toMatch(/cannot be sent to the model as JSON|audit log is down/);
      // The model was told the call failed, and the next turn was answered: the agent is not mute.
      const out = emu.record.messages.find((m) => m.type === 'conversation.item.create') as any;
      expect(JSON.parse(out.item.output).error, what).toMatch(/cannot be sent to the model as JSON|The tool 'lookup_order' failed\./);
      expect(of('user_turn').map((t) => t.text), what).toEqual(['Where is order A-17 now', 'Hello there']);
      expect(session.history.at(-1), what).toEqual({ role: 'assistant', content: 'Hello! How can I help you today?' });
    }
  }, 40_000);

  it('runs on a virtual clock like the other emulators: every reply heard, in a fraction of the call time', async () => {
    const clock = virtualClock();
    const emu = new RealtimeEmulator({ script: ['Hello there', 'What are your hours'], synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 500, realtimeFactor: 0.5, transcriptionDelayMs: 250, clock });
    emus.push(emu);
    await emu.start();
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: emu.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 140 } }), clock });
    const turns: TurnEvent[] = [];
    session.on('turn', (t) => turns.push(t));
    const caller = new ScriptedCaller({ lines: ['Hello there', 'What are your hours'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
    const output = virtualSpeaker({ sampleRate: 16000, clock });
    const wall = performance.now();
    const t0 = clock.now();
    await session.run({ input: caller.input(session, 800), output });
    const [wallMs, clockMs] = [performance.now() - wall, clock.now() - t0];
    expect(session.history.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual(['Hello! How can I help you today?', expect.stringContaining('hours')]);
    expect(turns.length).toBe(2);
    // The 140 ms of silence and the model's 500 ms to first audio, exactly, on the clock (with
    // the emulator on the wall clock, the clock ran on while it waited: 18 s and 30 s).
    for (const t of turns) {
      expect(t.latency.llmTtft).toBeCloseTo(500, 0);
      expect(t.latency.voiceToVoice).toBeGreaterThanOrEqual(640);
      expect(t.latency.voiceToVoice).toBeLessThan(700);
    }
    expect(clockMs).toBeGreaterThan(4000);
    expect(wallMs).toBeLessThan(clockMs / 2);
  });

  it('on barge-in cancels, truncates at the played position, and keeps only what was heard', async () => {
    const { session, of, output, emu } = await converse(['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }]);
    const [intr] = of('interrupted');
    expect(intr).toBeTruthy();
    expect(output.clears.length).toBe(1);
    const story = session.history[1]!;
    expect(story.role).toBe('assistant');
    expect(String(story.content).endsWith('…')).toBe(true);
    const heard = String(story.content).slice(0, -1);
    expect(heard.length).toBeGreaterThan(5);
    expect(intr.fullText.startsWith(heard)).toBe(true);
    expect(heard.length).toBeLessThan(intr.fullText.length);
    expect(session.transcript.find((e) => e.interrupted)?.text).toBe(heard);
    expect(session.history[2]).toEqual({ role: 'user', content: 'Wait what are your hours' });
    expect(session.history[3]!.content).toContain('Wait what are your hours');
    // The model was told: response.cancel, then conversation.item.truncate at the played position.
    const kinds = emu.record.messages.map((m) => m.type);
    expect(kinds.indexOf('response.cancel')).toBeGreaterThan(0);
    const tr = emu.record.messages.find((m) => m.type === 'conversation.item.truncate') as any;
    expect(tr.audio_end_ms).toBeGreaterThan(500);
    expect(tr.audio_end_ms).toBeLessThan(20 * intr.fullText.length);
    // The service keeps the audio up to the cut and no transcript (the API reference's truncation);
    // what that audio says is what the history holds (voxline keeps whole words: the audio may hold
    // part of one more).
    const item = emu.sessions[0]!.items.find((i) => i.id === tr.item_id) as any;
    expect(item.content).toEqual([{ type: 'output_audio' }]);
    const kept = emu.sessions[0]!.kept(tr.item_id)!;
    expect(kept.startsWith(heard)).toBe(true);
    expect(kept.length - heard.length).toBeLessThanOrEqual(14);
  });

  it('survives a dropped socket: a new one with the conversation restored', async () => {
    let dropped = false;
    const { session, emu, result, of } = await converse(['Hello there', 'What are your hours'], {}, {}, (s, e) => {
      s.on('agent_speech_ended', () => {
        if (dropped) return;
        dropped = true;
        e.sessions[0]!.drop(1011, 'keepalive ping timeout');
      });
    });
    expect(result).toBeUndefined();
    expect(emu.sessions.length).toBe(2);
    const restored = emu.sessions[1]!.items.slice(0, 2).map((i: any) => [i.role, i.content[0].text]);
    expect(restored).toEqual([['user', 'Hello there'], ['assistant', 'Hello! How can I help you today?']]);
    expect(session.history.map((m) => m.content)).toEqual(['Hello there', 'Hello! How can I help you today?', 'What are your hours', 'You said: What are your hours. How else can I help?']);
    expect(of('error')).toEqual([]);
  });

  it('fails loudly when the socket drops for good: run() rejects with a typed error and the session closes', async () => {
    let dropped = false;
    const { result, of } = await converse(['Hello there', 'What are your hours'], {}, {}, (s, e) => {
      s.on('agent_speech_ended', () => {
        if (dropped) return;
        dropped = true;
        e.inject({ refuse: { count: 5, status: 503 } });
        e.sessions[0]!.drop(1011, 'server going away');
      });
    });
    expect(result).toBeInstanceOf(ProviderError);
    expect(result).toMatchObject({ retryable: true });
    expect(of('closed')).toEqual([{ reason: 'provider error' }]);
    expect(of('error').length).toBeGreaterThan(0);
  });

  it('ends the call politely when the budget is reached', async () => {
    const { of, session } = await converse(['Hello there'], { prices: { llmCompletionPer1k: 1000 }, budget: 0.01, goodbye: 'That is all for today.' });
    expect(of('closed')).toEqual([{ reason: 'budget reached' }]);
    expect(session.history.at(-1)!.content).toBe('That is all for today.');
    expect(session.cost).toBeGreaterThanOrEqual(0.01);
  });

  it('with text output, speaks through the session TTS and on barge-in replaces the model\'s text by what was heard', async () => {
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3 });
    emus.push(el);
    await el.start();
    const tts = new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' });
    const { session, of, emu, output } = await converse(['Hello there', 'Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }], { tts }, {}, undefined, 1, 'text');
    expect((emu.record.messages.find((m) => m.type === 'session.update') as any).session.output_modalities).toEqual(['text']);
    expect(session.history[1]).toEqual({ role: 'assistant', content: 'Hello! How can I help you today?' });
    const turns: TurnEvent[] = of('turn');
    expect(turns.length).toBe(3);
    for (const t of turns) expect(t.latency.tts).toBeGreaterThanOrEqual(45); // the TTS's 50 ms to first audio
    const [intr] = of('interrupted');
    expect(output.clears.length).toBe(1);
    expect(intr.heardText.length).toBeGreaterThan(5);
    expect(intr.fullText.startsWith(intr.heardText)).toBe(true);
    expect(session.history[3]).toEqual({ role: 'assistant', content: `${intr.heardText}…` });
    // The model's text item was deleted and replaced by the heard words.
    const del = emu.record.messages.find((m) => m.type === 'conversation.item.delete') as any;
    expect(del).toBeTruthy();
    const items = emu.sessions[0]!.items as any[];
    expect(items.some((i) => i.id === del.item_id)).toBe(false);
    expect(items.filter((i) => i.role === 'assistant').map((i) => i.content[0].text)).toContain(intr.heardText);
    expect(session.history[4]).toEqual({ role: 'user', content: 'Wait what are your hours' });
    expect(session.history[5]!.content).toContain('Wait what are your hours');
  });

  it('refuses a tts with an audio-output model and requires one with a text-output model', () => {
    const rt = (output: 'audio' | 'text') => new OpenAiRealtime({ apiKey: 'k', output });
    const tts = new ElevenLabsTts({ apiKey: 'k', voiceId: 'v' });
    expect(() => new VoiceSession({ realtime: rt('audio'), tts })).toThrow(ConfigError);
    expect(() => new VoiceSession({ realtime: rt('text') })).toThrow(/needs a tts/);
  });
});
