import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, OpenAiRealtime, ProviderError, type RealtimeConnection, type RealtimeEvent, type ToolSpec } from '../../src/index';
import { RealtimeEmulator, type RealtimeEmulatorOptions } from '../../src/testing/index';
import type { RealtimeClientEvent, RealtimeConversationItemAssistantMessage, RealtimeServerEvent } from 'openai/resources/realtime/realtime';
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
    // The service deletes the transcript of truncated audio; the model keeps the audio up to the cut.
    const item = emu.sessions[0]!.items.find((i) => i.id === first.itemId) as any;
    expect(item.content).toEqual([{ type: 'output_audio' }]);
    const kept = emu.sessions[0]!.kept(first.itemId)!;
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
    expect(new OpenAiRealtime({ apiKey: 'k' }).stallTimeoutMs).toBe(15_000);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new OpenAiRealtime({ apiKey: 'k', stallTimeoutMs: bad })).toThrow(/stallTimeoutMs/);
  });
});

describe('the Realtime emulator driven by the official openai package (OpenAIRealtimeWS)', () => {
  it('answers conversation.item.retrieve with conversation.item.retrieved; truncation keeps the audio to the cut and deletes the transcript', async () => {
    const { default: OpenAI } = await import('openai');
    const { OpenAIRealtimeWS } = await import('openai/realtime/ws');
    emu = new RealtimeEmulator({ apiKey: 'sk-rt', script: ['Tell me a story please', 'Hello there'], timeToFirstAudioMs: 60, realtimeFactor: 0.2, transcriptionDelayMs: 20 });
    await emu.start();
    const { connect } = await import('node:net');
    // The package always opens wss://; the emulator serves plain ws on 127.0.0.1, so its socket
    // is made over plain TCP (the handshake and every event are the package's own).
    const plain = (o: { socketPath?: string; path?: string; host?: string; port?: number }) => connect({ host: o.host ?? '127.0.0.1', port: Number(o.port) });
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { createConnection: plain as never } }, new OpenAI({ apiKey: 'sk-rt', baseURL: emu.baseURL }));
    const events: RealtimeServerEvent[] = [];
    rt.on('event', (ev) => void events.push(ev));
    rt.on('error', () => {}); // error events are asserted below, from `event`
    const next = async <T extends RealtimeServerEvent['type']>(type: T, pred: (e: Extract<RealtimeServerEvent, { type: T }>) => boolean = () => true, from = 0) => {
      for (const end = performance.now() + 5000; performance.now() < end; await new Promise((r) => setTimeout(r, 5))) {
        const hit = events.slice(from).find((e): e is Extract<RealtimeServerEvent, { type: T }> => e.type === type && pred(e as Extract<RealtimeServerEvent, { type: T }>));
        if (hit) return hit;
      }
      throw new Error(`no ${type}; got ${events.map((e) => e.type).join(',')}`);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        rt.socket.once('open', () => resolve());
        rt.socket.once('error', reject);
      });
      const send = (ev: RealtimeClientEvent) => rt.send(ev);
      send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['audio'], audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', silence_duration_ms: 140 }, transcription: { model: 'gpt-4o-mini-transcribe' } } } } });
      await next('session.updated');
      for (const f of await utteranceFrames(600, 200, 400, 24000)) send({ type: 'input_audio_buffer.append', audio: Buffer.from(f.samples.buffer, f.samples.byteOffset, f.samples.byteLength).toString('base64') });
      const first = await next('response.output_audio.delta');
      await next('response.output_audio.delta', () => events.filter((e) => e.type === 'response.output_audio.delta').length >= 12);
      send({ type: 'response.cancel', response_id: first.response_id });
      send({ type: 'conversation.item.truncate', item_id: first.item_id, content_index: 0, audio_end_ms: 700 });
      await next('conversation.item.truncated');
      await next('response.done');
      const at = events.length;
      send({ type: 'conversation.item.retrieve', item_id: first.item_id, event_id: 'evt_retrieve' });
      const got = await next('conversation.item.retrieved', () => true, at);
      // The stored item: 700 ms of audio (PCM16 at 24 kHz), and no transcript.
      expect(got.item).toMatchObject({ id: first.item_id, type: 'message', role: 'assistant' });
      const part = (got.item as RealtimeConversationItemAssistantMessage).content[0]!;
      expect(part.type).toBe('output_audio');
      expect(part.transcript).toBeUndefined();
      expect(Buffer.from(part.audio!, 'base64').length).toBe(0.7 * 24000 * 2);
      // The first samples are those that were sent.
      expect(Buffer.from(part.audio!, 'base64').subarray(0, 64).toString('base64')).toBe(Buffer.from(first.delta, 'base64').subarray(0, 64).toString('base64'));
      // An item that does not exist: an error naming the event.
      send({ type: 'conversation.item.retrieve', item_id: 'item_nope', event_id: 'evt_nope' });
      const err = await next('error', (e) => e.error.event_id === 'evt_nope');
      expect(err.error).toMatchObject({ type: 'invalid_request_error', param: 'item_id' });
      // The user's item, retrieved: its input_audio part with the transcript attached for reference.
      const user = await next('conversation.item.input_audio_transcription.completed');
      send({ type: 'conversation.item.retrieve', item_id: user.item_id });
      expect((await next('conversation.item.retrieved', (e) => e.item.id === user.item_id)).item).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_audio', transcript: 'Tell me a story please' }] });
      // The model goes on from what it kept of the cut item (its audio), not a transcript.
      expect(emu.sessions[0]!.kept(first.item_id)!.length).toBeGreaterThan(3);
    } finally {
      rt.close();
    }
  });
});
