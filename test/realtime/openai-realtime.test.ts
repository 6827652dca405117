import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, OpenAiRealtime, ProviderError, type RealtimeConnection, type RealtimeEvent, type ToolSpec } from '../../src/index';
import { RealtimeEmulator, type RealtimeEmulatorOptions } from '../../src/testing/index';
import { utteranceFrames } from '../helpers';

let emu: RealtimeEmulator | undefined;
let conn: RealtimeConnection | undefined;
afterEach(async () => {
  await conn?.close();
  await emu?.close();
  conn = emu = undefined;
});

const lookupOrder: ToolSpec = { name: 'lookup_order', description: 'Look up an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } };

async function open(script: string[], emuOpts: RealtimeEmulatorOptions = {}, tools: ToolSpec[] = [], clientOpts: Partial<ConstructorParameters<typeof OpenAiRealtime>[0]> = {}) {
  emu = new RealtimeEmulator({ apiKey: 'sk-rt', script, timeToFirstAudioMs: 60, realtimeFactor: 0.2, transcriptionDelayMs: 20, ...emuOpts });
  await emu.start();
  const rt = new OpenAiRealtime({ apiKey: 'sk-rt', baseURL: emu.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 140 }, ...clientOpts });
  conn = await rt.connect({ instructions: 'You are a test agent.', tools });
  const events: RealtimeEvent[] = [];
  const done = (async () => {
    for await (const ev of conn!) events.push(ev);
  })();
  return { rt, conn, events, done, emu };
}

/** Waits until an event matching `pred` has arrived. */
async function until(events: RealtimeEvent[], pred: (e: RealtimeEvent) => boolean, ms = 5000): Promise<RealtimeEvent> {
  const t0 = performance.now();
  for (;;) {
    const hit = events.find(pred);
    if (hit) return hit;
    if (performance.now() - t0 > ms) throw new Error(`timed out; got ${events.map((e) => e.type).join(',')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function say(conn: RealtimeConnection, speechMs = 600) {
  for (const f of await utteranceFrames(speechMs, 200, 400, 16000)) conn.appendAudio(f);
}

describe('OpenAiRealtime against the Realtime emulator', () => {
  it('configures the session, resamples input to 24 kHz, and streams a spoken reply with its transcript and usage', async () => {
    const { conn, events, emu } = await open(['Hello there']);
    const update = emu.record.messages.find((m) => m.type === 'session.update') as any;
    expect(update.session).toMatchObject({
      type: 'realtime', output_modalities: ['audio'], instructions: 'You are a test agent.',
      audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', silence_duration_ms: 140, create_response: true, interrupt_response: false }, transcription: { model: 'gpt-4o-mini-transcribe' } }, output: { voice: 'marin' } },
    });
    expect(emu.record.connections[0]!.query.model).toBe('gpt-realtime');
    await say(conn);
    const started = (await until(events, (e) => e.type === 'speech_started')) as Extract<RealtimeEvent, { type: 'speech_started' }>;
    const stopped = (await until(events, (e) => e.type === 'speech_stopped')) as Extract<RealtimeEvent, { type: 'speech_stopped' }>;
    // Speech is at 200-800 ms of the input; the stop includes the 140 ms of silence waited for.
    expect(stopped.audioEndMs).toBeGreaterThanOrEqual(800 + 140 - 60);
    expect(stopped.audioEndMs).toBeLessThanOrEqual(800 + 140 + 60);
    expect(started.itemId).toBe(stopped.itemId);
    expect(conn.audioMs).toBeCloseTo(1200, -1);
    // 1.2 s at 16 kHz appended as 24 kHz PCM16: about 57 600 bytes.
    expect(Math.abs(emu.record.audioBytes - 57600)).toBeLessThan(600);
    const done = (await until(events, (e) => e.type === 'response_done')) as Extract<RealtimeEvent, { type: 'response_done' }>;
    expect(done.status).toBe('completed');
    expect(done.usage!.outputAudioTokens).toBeGreaterThan(0);
    expect(done.usage!.inputTokens).toBeGreaterThan(done.usage!.inputAudioTokens);
    const text = events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('');
    expect(text).toBe('Hello! How can I help you today?');
    const audio = events.filter((e): e is Extract<RealtimeEvent, { type: 'audio' }> => e.type === 'audio');
    expect(audio.length).toBeGreaterThan(1);
    expect(audio.every((a) => a.frame.sampleRate === 24000 && a.responseId === done.responseId)).toBe(true);
    const user = (await until(events, (e) => e.type === 'user_transcript')) as Extract<RealtimeEvent, { type: 'user_transcript' }>;
    expect(user).toEqual({ type: 'user_transcript', itemId: stopped.itemId, text: 'Hello there' });
  });

  it('makes a function call and speaks its result after function_call_output and response.create', async () => {
    const { conn, events, emu } = await open(['Where is order A-17 now'], {}, [lookupOrder]);
    expect((emu.record.messages.find((m) => m.type === 'session.update') as any).session.tools).toEqual([{ type: 'function', ...lookupOrder }]);
    await say(conn);
    const call = (await until(events, (e) => e.type === 'tool_call')) as Extract<RealtimeEvent, { type: 'tool_call' }>;
    expect(call.call.name).toBe('lookup_order');
    expect(JSON.parse(call.call.arguments)).toEqual({ order_id: 'A-17' });
    await until(events, (e) => e.type === 'response_done');
    conn.sendToolResult(call.call.id, JSON.stringify({ order_id: 'A-17', status: 'shipped' }));
    conn.respond();
    await until(events, (e) => e.type === 'response_done' && e.responseId !== call.responseId);
    const second = events.filter((e) => e.type === 'text' && e.responseId !== call.responseId).map((e) => (e as { delta: string }).delta).join('');
    expect(second).toBe('I checked that for you: order id A-17, status shipped. Is there anything else?');
    expect(emu.sessions[0]!.items.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message']);
  });

  it('cancels and truncates at the heard position: the model keeps only what was heard', async () => {
    const { conn, events, emu } = await open(['Tell me a story please']);
    await say(conn);
    const first = (await until(events, (e) => e.type === 'audio')) as Extract<RealtimeEvent, { type: 'audio' }>;
    await until(events, () => events.filter((e) => e.type === 'audio').length >= 12);
    conn.cancel(first.responseId);
    conn.truncate(first.itemId, 700);
    const done = (await until(events, (e) => e.type === 'response_done')) as Extract<RealtimeEvent, { type: 'response_done' }>;
    expect(done).toMatchObject({ status: 'cancelled', reason: 'client_cancelled' });
    const truncated = await until(events, (e) => e.type === 'truncated');
    expect(truncated).toEqual({ type: 'truncated', itemId: first.itemId, audioEndMs: 700 });
    const item = emu.sessions[0]!.items.find((i) => i.id === first.itemId) as any;
    const kept: string = item.content[0].transcript;
    const sent = events.filter((e) => e.type === 'text' && e.itemId === first.itemId).map((e) => (e as { delta: string }).delta).join('');
    expect(kept.length).toBeGreaterThan(3);
    expect(sent.startsWith(kept)).toBe(true);
    expect(kept.length).toBeLessThan(sent.length);
    const tr = emu.record.messages.find((m) => m.type === 'conversation.item.truncate');
    expect(tr).toEqual({ type: 'conversation.item.truncate', item_id: first.itemId, content_index: 0, audio_end_ms: 700 });
  });

  it('clamps a truncation to the audio received, and reports error events as typed errors', async () => {
    const { conn, events } = await open(['Hello there']);
    await say(conn);
    const first = (await until(events, (e) => e.type === 'audio')) as Extract<RealtimeEvent, { type: 'audio' }>;
    await until(events, (e) => e.type === 'response_done');
    conn.truncate(first.itemId, 10 ** 6);
    const t = (await until(events, (e) => e.type === 'truncated')) as Extract<RealtimeEvent, { type: 'truncated' }>;
    expect(t.audioEndMs).toBeLessThan(10 ** 6);
    conn.cancel();
    const err = (await until(events, (e) => e.type === 'error')) as Extract<RealtimeEvent, { type: 'error' }>;
    expect(err.error).toBeInstanceOf(ProviderError);
    expect(err.error.message).toMatch(/no active response.*invalid_request_error/);
  });

  it('reconnects after a dropped socket and restores the conversation from history', async () => {
    const history = [{ role: 'user' as const, content: 'Hello there' }, { role: 'assistant' as const, content: 'Hello! How can I help you today?' }];
    emu = new RealtimeEmulator({ apiKey: 'sk-rt', script: ['Hello there'] });
    await emu.start();
    conn = await new OpenAiRealtime({ apiKey: 'sk-rt', baseURL: emu.baseURL }).connect({ history: () => history });
    const events: RealtimeEvent[] = [];
    void (async () => { for await (const e of conn!) events.push(e); })();
    emu.sessions[0]!.drop(1011, 'keepalive ping timeout');
    await until(events, (e) => e.type === 'reconnected');
    expect(emu.sessions.length).toBe(2);
    await until(events, () => emu!.sessions[1]!.items.length === 2);
    expect(emu.sessions[1]!.items.map((i: any) => [i.role, i.content[0].text])).toEqual([['user', 'Hello there'], ['assistant', 'Hello! How can I help you today?']]);
    expect(emu.sessions[1]!.session.instructions).toBe(emu.sessions[0]!.session.instructions);
  });

  it('fails loudly with a retryable connection error when the socket drops and no reconnection is left', async () => {
    const { conn, done, emu } = await open(['Hello there'], {}, [], { maxReconnects: 0 });
    emu.sessions[0]!.drop(1011, 'server going away');
    await expect(done).rejects.toMatchObject({ code: 'connection_error', retryable: true, status: 1011 });
    await conn.close();
  });

  it('refuses a wrong key with an AuthError that does not contain the key', async () => {
    emu = new RealtimeEmulator({ apiKey: 'sk-right' });
    await emu.start();
    const err = await new OpenAiRealtime({ apiKey: 'sk-wrong-secret', baseURL: emu.baseURL }).connect({}).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain('Incorrect API key');
    expect(err.message).not.toContain('sk-wrong-secret');
  });
});

describe('OpenAiRealtime options', () => {
  it('maps semantic VAD, text output and the base URL; hides the key; refuses bad options', async () => {
    const { inspect } = await import('node:util');
    const { ConfigError } = await import('../../src/index');
    const rt = new OpenAiRealtime({ apiKey: 'sk-hidden-1234', turnDetection: { type: 'semantic_vad', eagerness: 'high' }, output: 'text', transcription: false });
    expect(rt.silenceMs).toBeUndefined();
    const cfg = rt.sessionConfig({ instructions: 'x', tools: [lookupOrder], interruptResponse: true });
    expect(cfg).toMatchObject({ output_modalities: ['text'], audio: { input: { turn_detection: { type: 'semantic_vad', eagerness: 'high', create_response: true, interrupt_response: true } } } });
    expect(cfg.audio!.output).toBeUndefined();
    expect(cfg.audio!.input!.transcription).toBeUndefined();
    expect(new OpenAiRealtime({ apiKey: 'k' }).silenceMs).toBe(500);
    expect(inspect(rt)).not.toContain('sk-hidden-1234');
    expect(() => new OpenAiRealtime({ apiKey: '' })).toThrow(ConfigError);
    expect(() => new OpenAiRealtime({ apiKey: 'k', output: 'video' as never })).toThrow(ConfigError);
    expect(() => new OpenAiRealtime({ apiKey: 'k', baseURL: 'not a url' })).toThrow(ConfigError);
  });
});
