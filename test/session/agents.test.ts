import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Agent, CartesiaTts, ConfigError, DeepgramStt, ElevenLabsTts, OpenAiLlm, OpenAiRealtime, VoiceSession, type VoxlineError, handoff, tool, toneSynthesizer, type HandoffInfo, type TtsStream, type TurnEvent, type VoiceSessionOptions } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { spyTts } from '../helpers';
import { CartesiaEmulator, DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, RealtimeEmulator, ScriptedCaller, virtualClock, type CallerLine, type ChatReply, type ChatRequest } from '../../src/testing/index';

const clock = virtualClock();

let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

const billing = new Agent({
  name: 'billing',
  instructions: 'You are the billing desk.',
  voice: 'voice-billing',
  tools: [tool<{ invoice_id: string }>({
    name: 'lookup_invoice', description: 'Look up an invoice', parameters: { type: 'object', properties: { invoice_id: { type: 'string' } }, required: ['invoice_id'] },
    execute: ({ invoice_id }) => ({ invoice_id, status: 'paid' }),
  })],
});
const toBilling = tool({ name: 'transfer_to_billing', description: 'Billing questions', parameters: { type: 'object', properties: {} }, execute: () => handoff(billing, { reason: 'billing question' }) });
const reception = new Agent({ name: 'reception', instructions: 'You are the reception.', tools: [toBilling] });

const system = (req: ChatRequest) => String((req.messages[0] as { content?: unknown }).content);
const lastOf = (req: ChatRequest) => req.messages.at(-1) as { role: string; content?: unknown };
function desk(req: ChatRequest): ChatReply {
  const last = lastOf(req);
  if (system(req) === 'You are the reception.' && /take your time/.test(String(last.content))) return { content: 'Let me transfer you to our billing desk, who will be glad to help you with your invoice question in just a moment.', toolCalls: [{ name: 'transfer_to_billing', arguments: {} }] };
  if (system(req) === 'You are the reception.') return /invoice/i.test(String(last.content)) ? { content: 'Let me transfer you.', toolCalls: [{ name: 'transfer_to_billing', arguments: {} }] } : { content: 'Reception here, how can I help?' };
  if (last.role === 'tool' && !/handoff/.test(String(last.content))) return { content: `Invoice ${JSON.parse(String(last.content)).invoice_id} is paid.` };
  const user = String([...req.messages].reverse().find((m) => m.role === 'user')?.content);
  const id = /inv (\d+)/i.exec(user)?.[1];
  if (id) return { toolCalls: [{ name: 'lookup_invoice', arguments: { invoice_id: id } }] };
  if (/story/.test(user)) return { content: 'Billing here. Let me tell you all about our invoices, which are sent on the first day of every month, and our payment terms, which are thirty days from the invoice date, and our late fees.' };
  return { content: 'Billing here. What is the invoice number?' };
}

async function call(lines: (string | CallerLine)[], opts: Partial<VoiceSessionOptions> = {}, tts: 'cartesia' | 'elevenlabs' | 'plain' = 'cartesia', during?: (session: VoiceSession) => void) {
  const dg = new DeepgramEmulator({ script: lines.map((l) => (typeof l === 'string' ? l : l.text)), clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80, clock, responder: desk });
  const ca = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  emus.push(dg, oa, ca, el);
  await Promise.all([dg.start(), oa.start(), ca.start(), el.start()]);
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: tts === 'cartesia' ? new CartesiaTts({ apiKey: 'k', voiceId: 'voice-reception', baseURL: ca.baseURL, sampleRate: 16000 }) : tts === 'elevenlabs' ? new ElevenLabsTts({ apiKey: 'k', voiceId: 'voice-reception', baseURL: el.baseURL, outputFormat: 'pcm_16000' }) : spyTts(new ElevenLabsTts({ apiKey: 'k', voiceId: 'voice-reception', baseURL: el.baseURL, outputFormat: 'pcm_16000' })).tts,
    agent: reception,
    clock,
    ...opts,
  });
  const handoffs: HandoffInfo[] = [];
  const turns: TurnEvent[] = [];
  const interrupted: unknown[] = [];
  const errors: VoxlineError[] = [];
  session.on('error', (e) => errors.push(e));
  session.on('handoff', (h) => handoffs.push(h));
  session.on('turn', (t) => turns.push(t));
  session.on('interrupted', (i) => interrupted.push(i));
  during?.(session);
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000, clock }) });
  return { session, handoffs, turns, interrupted, errors, oa, ca, el };
}

/** The voice of each Cartesia generation request, in order, without repeats of the same context. */
function voicesOf(ca: CartesiaEmulator): string[] {
  const seen = new Set<string>();
  const voices: string[] = [];
  for (const m of ca.record.messages) {
    const ctx = m.context_id as string;
    if (!m.voice || seen.has(ctx)) continue;
    seen.add(ctx);
    voices.push((m.voice as { id: string }).id);
  }
  return voices;
}

describe('VoiceSession: agents and handoffs', () => {
  it("a tool hands the call to billing, which answers in the same turn in its own voice on the same Cartesia socket; agents are named in events, metrics and transcript", async () => {
    const { session, handoffs, turns, oa, ca } = await call(['I have a question about my invoice', 'It is inv 42']);
    expect(handoffs).toEqual([{ from: 'reception', to: 'billing', reason: 'billing question', source: 'tool' }]);
    expect(session.agent).toBe('billing');
    expect(session.transcript.map(({ role, text, agent }) => ({ role, text, agent }))).toEqual([
      { role: 'user', text: 'I have a question about my invoice', agent: undefined },
      { role: 'agent', text: 'Let me transfer you.', agent: 'reception' },
      { role: 'agent', text: 'Billing here. What is the invoice number?', agent: 'billing' },
      { role: 'user', text: 'It is inv 42', agent: undefined },
      { role: 'agent', text: 'Invoice 42 is paid.', agent: 'billing' },
    ]);
    // The turn's latency is timed once, for the agent whose audio came first.
    expect(turns.map((t) => [t.index, t.agent])).toEqual([[1, 'reception'], [2, 'billing']]);
    expect(session.metrics.turns.map((t) => t.agent)).toEqual(['reception', 'billing']);
    // Billing's requests offer billing's tools only.
    const bodies = oa.record.bodies as ChatRequest[];
    expect(bodies.map((b) => [system(b), (b.tools ?? []).map((t) => t.function.name)])).toEqual([
      ['You are the reception.', ['transfer_to_billing']],
      ['You are the billing desk.', ['lookup_invoice']],
      ['You are the billing desk.', ['lookup_invoice']],
      ['You are the billing desk.', ['lookup_invoice']],
    ]);
    // One socket for both voices: each reply is a context with its agent's voice.
    expect(ca.record.connections.length).toBe(1);
    expect(voicesOf(ca)).toEqual(['voice-reception', 'voice-billing', 'voice-billing']);
  });

  it('with ElevenLabs (the voice is fixed per socket) a voice change opens a stream for that voice, closed with the session', async () => {
    const { session, handoffs, el } = await call(['I have a question about my invoice'], {}, 'elevenlabs');
    expect(handoffs.map((h) => h.to)).toEqual(['billing']);
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => e.agent)).toEqual(['reception', 'billing']);
    const paths = el.record.connections.map((c) => c.path);
    expect(paths.some((p) => p.includes('/voice-reception/'))).toBe(true);
    expect(paths.some((p) => p.includes('/voice-billing/'))).toBe(true);
  });

  it('a barge-in while the new agent answers cuts it as anywhere else; the next turn goes to the new agent', async () => {
    const { session, handoffs, interrupted } = await call(['I have a question about my invoice, tell me the story', { text: 'Wait it is inv 7', cue: { after: 'agent_speaking', delayMs: 2500 } }]);
    expect(handoffs.map((h) => h.to)).toEqual(['billing']);
    expect(interrupted.length).toBe(1);
    const agentSaid = session.transcript.filter((e) => e.role === 'agent');
    expect(agentSaid.find((e) => e.interrupted)).toMatchObject({ agent: 'billing' });
    expect(agentSaid.at(-1)).toMatchObject({ text: 'Invoice 7 is paid.', agent: 'billing' });
    expect(session.history.at(-1)).toEqual({ role: 'assistant', content: 'Invoice 7 is paid.' });
  });

  it('a barge-in while the old agent announces the handoff: the new agent has the call and answers what the user said instead', async () => {
    const { session, handoffs, interrupted } = await call(['I have a question about my invoice, take your time', { text: 'Wait it is inv 7', cue: { after: 'agent_speaking', delayMs: 300 } }]);
    expect(interrupted.length).toBe(1);
    expect(handoffs.map((h) => h.to)).toEqual(['billing']);
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => [e.agent, e.text, e.interrupted ?? false])).toEqual([
      ['reception', expect.any(String), true],
      ['billing', 'Invoice 7 is paid.', false],
    ]);
  });

  it('hands over from code: the new agent greets in its voice and answers the next turn', async () => {
    const supervisor = new Agent({ name: 'billing', instructions: 'You are the billing desk.', voice: 'voice-billing', greeting: 'Billing speaking.', tools: billing.tools });
    let done: Promise<void> | undefined;
    const { session, handoffs, ca } = await call(['Hello there', 'It is inv 9'], {}, 'cartesia', (s) => s.once('turn', () => void (done = s.handoff(supervisor, { reason: 'escalation' }))));
    await done;
    expect(handoffs).toEqual([{ from: 'reception', to: 'billing', reason: 'escalation', source: 'code' }]);
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => [e.agent, e.text])).toEqual([
      ['reception', 'Reception here, how can I help?'],
      ['billing', 'Billing speaking.'],
      ['billing', 'Invoice 9 is paid.'],
    ]);
    expect(voicesOf(ca)).toEqual(['voice-reception', 'voice-billing', 'voice-billing']);
  });

  it('a session without agents is its own default agent: no agent field anywhere, no handoff', async () => {
    const { session, handoffs, turns } = await call(['Hello there'], { agent: undefined, instructions: 'You are the reception.' });
    expect(handoffs).toEqual([]);
    expect(session.agent).toBeUndefined();
    expect(session.transcript.map((e) => e.text)).toEqual(['Hello there', 'Reception here, how can I help?']);
    expect(session.transcript.some((e) => 'agent' in e)).toBe(false);
    expect(turns.length).toBe(1);
    expect('agent' in turns[0]!).toBe(false);
    expect('agent' in session.metrics.turns[0]!).toBe(false);
  });

  it("a tool's handoff to an agent whose voice the TTS cannot speak is refused: the error says why, the old agent keeps the call", async () => {
    const { session, handoffs, errors } = await call(['I have a question about my invoice'], {}, 'plain');
    expect(handoffs).toEqual([]);
    expect(session.agent).toBe('reception');
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/agent billing asks for voice voice-billing, but the elevenlabs TTS cannot change voice/)]);
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => e.agent)).toEqual(['reception']);
  });

  it('refuses a voice the TTS cannot speak, and a handoff before run()', async () => {
    const plain: TtsStream = { provider: 'plain', sampleRate: 16000, async *synthesize() {} };
    const stt = { provider: 'x', transcribe: () => (async function* () {})() } as unknown as VoiceSessionOptions['stt'];
    const llm = new OpenAiLlm({ apiKey: 'k', baseURL: 'http://127.0.0.1:9', model: 'm' });
    expect(() => new VoiceSession({ stt, llm, tts: plain, agent: billing })).toThrow(/asks for voice voice-billing, but the plain TTS cannot change voice/);
    expect(() => new VoiceSession({ stt, llm, tts: plain, agent: {} as Agent })).toThrow(ConfigError);
    const session = new VoiceSession({ stt, llm, tts: plain, agent: reception });
    await expect(session.handoff(billing)).rejects.toThrow(/needs a running session/);
  });
});

describe('VoiceSession: handoffs with a realtime model', () => {
  // Reception hands over without a word: no audio yet, so the voice may still change.
  const silentDesk = (req: ChatRequest): ChatReply => (system(req) === 'You are the reception.' && /invoice/.test(String(lastOf(req).content)) ? { toolCalls: [{ name: 'transfer_to_billing', arguments: {} }] } : desk(req));

  async function realtimeCall(lines: string[], greeting?: string) {
    const emu = new RealtimeEmulator({ script: lines, synthesizer: toneSynthesizer({ msPerChar: 10 }), timeToFirstAudioMs: 40, realtimeFactor: 0.1, transcriptionDelayMs: 20, responder: silentDesk });
    emus.push(emu);
    await emu.start();
    const receptionHello = new Agent({ name: 'reception', instructions: 'You are the reception.', tools: [toBilling], greeting });
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: emu.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 140 } }), agent: receptionHello });
    const handoffs: HandoffInfo[] = [];
    const errors: VoxlineError[] = [];
    session.on('handoff', (h) => handoffs.push(h));
    session.on('error', (e) => errors.push(e));
    const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 30 }) });
    await session.run({ input: caller.input(session, 600), output: virtualSpeaker({ sampleRate: 16000 }) });
    const updates = emu.record.messages.filter((m) => m.type === 'session.update').map((m) => m.session as { instructions?: string; tools?: { name: string }[]; audio?: { output?: { voice?: string } } });
    return { session, handoffs, errors, emu, updates };
  }

  it("session.update carries the new agent's instructions, tools and voice (before the model has spoken); the new agent answers the same turn", async () => {
    const { session, handoffs, errors, emu, updates } = await realtimeCall(['I have a question about my invoice']);
    expect(handoffs).toEqual([{ from: 'reception', to: 'billing', reason: 'billing question', source: 'tool' }]);
    expect(errors).toEqual([]);
    expect(updates.length).toBe(2);
    expect(updates[1]).toEqual({ type: 'realtime', instructions: 'You are the billing desk.', tools: [expect.objectContaining({ name: 'lookup_invoice' })], audio: { output: { voice: 'voice-billing' } } });
    expect(emu.sessions[0]!.session.audio?.output?.voice).toBe('voice-billing');
    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => [e.agent, e.text])).toEqual([['billing', 'Billing here. What is the invoice number?']]);
  });

  it('once the model has spoken, the voice stays (as OpenAI documents) and the error event says so; instructions and tools still change', async () => {
    const { handoffs, errors, emu, updates } = await realtimeCall(['I have a question about my invoice'], 'Hello, reception.');
    expect(handoffs.map((h) => h.to)).toEqual(['billing']);
    expect(updates[1]).toEqual({ type: 'realtime', instructions: 'You are the billing desk.', tools: [expect.objectContaining({ name: 'lookup_invoice' })] });
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/cannot change the voice once the model has spoken: billing speaks in the call's first voice/)]);
    expect(emu.sessions[0]!.session.audio?.output?.voice).not.toBe('voice-billing');
  });

  it('the emulator refuses a voice change once the model has spoken, as OpenAI does (cannot_update_voice)', async () => {
    const emu = new RealtimeEmulator({ synthesizer: toneSynthesizer({ msPerChar: 5 }), timeToFirstAudioMs: 5, realtimeFactor: 0.05, responder: () => ({ content: 'Hello.' }) });
    emus.push(emu);
    await emu.start();
    const ws = new WebSocket(`${emu.baseURL.replace(/^http/, 'ws')}/realtime?model=gpt-realtime`, { headers: { Authorization: 'Bearer k' } });
    const got: { type: string; error?: { code?: string; message?: string } }[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    const until = async (type: string) => { for (let i = 0; i < 200 && !got.some((e) => e.type === type); i++) await new Promise((r) => setTimeout(r, 10)); };
    ws.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', audio: { output: { voice: 'marin' } } } }));
    ws.send(JSON.stringify({ type: 'response.create' }));
    await until('response.done');
    ws.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', instructions: 'New', audio: { output: { voice: 'cedar' } } } }));
    await until('error');
    ws.close();
    expect(got.find((e) => e.type === 'error')?.error).toMatchObject({ code: 'cannot_update_voice', message: "Cannot update a conversation's voice if assistant audio is present." });
    expect(emu.sessions[0]!.session.instructions).not.toBe('New');
  });
});
