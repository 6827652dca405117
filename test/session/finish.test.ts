import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, DeviceError, ElevenLabsTts, OpenAiLlm, OpenAiRealtime, VoiceSession, VoxlineError, tool, toneSynthesizer, type TurnEvent, type AudioOutput, type VoiceSessionOptions } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, RealtimeEmulator, ScriptedCaller, virtualClock, type CallerLine } from '../../src/testing/index';

const clock = virtualClock();
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

async function converse(lines: (string | CallerLine)[], opts: Partial<VoiceSessionOptions> = {}, interimResults = true, output: AudioOutput = virtualSpeaker({ sampleRate: 16000, clock })) {
  const script = lines.map((l) => (typeof l === 'string' ? l : l.text));
  const dg = new DeepgramEmulator({ script, clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80, clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL, interimResults }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    clock,
    ...opts,
  });
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  const events: string[] = [];
  const turns: TurnEvent[] = [];
  session.on('turn', (t) => turns.push(t));
  session.on('error', (e) => events.push(`error ${e.name}`));
  session.on('closed', (e) => events.push(`closed ${e.reason}`));
  const ran = await session.run({ input: caller.input(session, 800), output }).then(() => undefined, (err: unknown) => err);
  return { session, ran, events, turns };
}

describe('transcript order', () => {
  it('keeps the transcript in time order when a reply is cut off by a final', async () => {
    // Without interim results the barge-in comes with the final, which also ends the user's turn:
    // the user's entry is known before the cut-off reply's.
    const { session } = await converse(['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }, 'Thanks that is all'], {}, false);
    expect(session.transcript.map((e) => e.role)).toEqual(['user', 'agent', 'user', 'agent', 'user', 'agent']);
    expect(session.transcript[1]!.interrupted).toBe(true);
    const at = session.transcript.map((e) => e.at);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });
});

/** A speaker whose write() throws from its `n`th call on (a device or connection gone). */
function failingSpeaker(n: number, onClock = true): AudioOutput & { played: () => number } {
  const speaker = virtualSpeaker({ sampleRate: 16000, ...(onClock ? { clock } : {}) });
  let writes = 0;
  return Object.assign(Object.create(speaker) as AudioOutput, {
    write: (frame: Parameters<AudioOutput['write']>[0]) => (++writes >= n ? Promise.reject(new Error('EPIPE: speaker unplugged')) : speaker.write(frame)),
    played: () => speaker.playedMs,
  });
}

describe('an output whose write() throws', () => {
  it('rejects run() with a typed error, and records nothing as said when nothing played', async () => {
    const { session, ran, events } = await converse(['Tell me a story please', 'And then what'], {}, true, failingSpeaker(1));
    expect(ran).toBeInstanceOf(DeviceError);
    expect((ran as VoxlineError).message).toContain('EPIPE: speaker unplugged');
    expect(events).toEqual(['error DeviceError', 'closed output failed']);
    // Not said: nothing of the reply (nor an apology) is in the history or the transcript.
    expect(session.history.filter((m) => m.role === 'assistant')).toEqual([]);
    expect(session.transcript.map((e) => e.role)).toEqual(['user']);
  });

  it('mid-reply: rejects run() and records only what had played, as cut off', async () => {
    const output = failingSpeaker(40);
    const { session, ran } = await converse(['Tell me a story please', 'And then what'], {}, true, output);
    expect(ran).toBeInstanceOf(DeviceError);
    const agent = session.transcript.filter((e) => e.role === 'agent');
    expect(agent.length).toBe(1);
    expect(agent[0]!.interrupted).toBe(true);
    expect(agent[0]!.text.length).toBeGreaterThan(0);
    // The start of the reply, up to what had played: less than was sent to TTS.
    expect(output.played()).toBeGreaterThan(0);
    expect(agent[0]!.text.length).toBeLessThan(session.usage.ttsCharacters);
    expect(agent[0]!.text.startsWith('Of course.')).toBe(true);
    const said = session.history.filter((m) => m.role === 'assistant').map((m) => m.content);
    expect(said).toEqual([`${agent[0]!.text}…`]);
    // The second line is never answered: the call ended with the output.
    expect(session.transcript.filter((e) => e.role === 'user').map((e) => e.text)).toEqual(['Tell me a story please']);
  });
});

describe('an output whose write() throws, with a realtime model', () => {
  it('rejects run() and records only what had played, as cut off', async () => {
    const emu = new RealtimeEmulator({ script: ['Tell me a story please', 'And then what'], synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 80, realtimeFactor: 0.3, transcriptionDelayMs: 30 });
    emus.push(emu);
    await emu.start();
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: emu.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 140 } }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const caller = new ScriptedCaller({ lines: ['Tell me a story please', 'And then what'], synthesizer: toneSynthesizer({ msPerChar: 45 }) });
    const output = failingSpeaker(25, false);
    const ran = await session.run({ input: caller.input(session, 800), output }).then(() => undefined, (err: unknown) => err);
    expect(ran).toBeInstanceOf(DeviceError);
    expect(errors).toEqual([ran]);
    const agent = session.transcript.filter((e) => e.role === 'agent');
    expect(agent.length).toBe(1);
    expect(agent[0]!.interrupted).toBe(true);
    expect(agent[0]!.text.length).toBeGreaterThan(0);
    expect(session.history.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual([`${agent[0]!.text}…`]);
  }, 20_000);
});

describe('a turn with the tool filler spoken', () => {
  it('is reported (turn event, metrics, summary) with the filler timed on its own field', async () => {
    const slow = tool<{ order_id: string }>({
      name: 'lookup_order', description: 'Look up an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
      execute: async ({ order_id }) => { await clock.sleep(1500); return { order_id, status: 'shipped' }; },
    });
    const { session, turns } = await converse(['Hello there', 'Where is order A-17 now'], { tools: [slow], toolFiller: { text: 'One moment please.', afterMs: 300 } });
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => e.text).join(' ')).toContain('One moment please.');
    expect(turns.map((t) => t.userText)).toEqual(['Hello there', 'Where is order A-17 now']);
    const [plain, slowTurn] = turns;
    expect(plain!.latency.filler).toBeUndefined();
    const l = slowTurn!.latency;
    // The filler came first: its audio, some 300 ms after the LLM's tool call, long before the answer's.
    expect(l.filler).toBeGreaterThan(l.stt + 300);
    expect(slowTurn!.timestamps.fillerAudioOut).toBe(slowTurn!.timestamps.endOfSpeech + l.filler!);
    // The answer's latency: the tool's 1.5 s are in it, and in the p95.
    expect(l.voiceToVoice).toBeGreaterThan(l.filler! + 1000);
    expect(l.voiceToVoice).toBeGreaterThan(1500);
    expect(l.llmTtft).toBeGreaterThan(1500);
    expect(session.metrics.turns).toEqual(turns.map((t) => t.latency));
    const summary = session.metrics.summary();
    expect(summary.voiceToVoice.count).toBe(2);
    expect(summary.voiceToVoice.max).toBe(l.voiceToVoice);
    expect(summary.filler).toMatchObject({ count: 1, max: l.filler });
  });
});
