import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DeepgramEmulator } from '../../src/testing/index';
import { paced, utteranceFrames, sleep } from '../helpers';

const Q = 'model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true&punctuate=true';
let emu: DeepgramEmulator;
afterEach(() => emu?.close());

function open(url: string, opts: WebSocket.ClientOptions = { headers: { Authorization: 'Token dg-key' } }, protocols?: string[]) {
  const ws = protocols ? new WebSocket(url, protocols, opts) : new WebSocket(url, opts);
  const msgs: Record<string, any>[] = [];
  const at: number[] = [];
  ws.on('message', (d) => { msgs.push(JSON.parse(String(d))); at.push(performance.now()); });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
  const opened = new Promise<void>((res, rej) => { ws.on('open', () => res()); ws.on('unexpected-response', (_q, resp) => rej(Object.assign(new Error('refused'), { status: resp.statusCode, headers: resp.headers }))); ws.on('error', () => {}); });
  return { ws, msgs, at, closed, opened };
}

describe('DeepgramEmulator', () => {
  it('transcribes a scripted utterance with Deepgram-shaped messages, timed by the audio', async () => {
    emu = new DeepgramEmulator({ apiKey: 'dg-key', script: ['Where is my order?'] });
    await emu.start();
    const c = open(`${emu.listenUrl}?${Q}`);
    await c.opened;
    const frames = await utteranceFrames(1200, 200, 1400);
    const sentAt: number[] = [];
    for await (const f of paced(frames, sentAt)) c.ws.send(f.samples);
    const lastSpeechSend = sentAt[(200 + 1200) / 20 - 1]!;
    c.ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await c.closed).code).toBe(1000);
    const types = c.msgs.map((m) => m.type);
    expect(types[0]).toBe('SpeechStarted');
    expect(c.msgs[0]!.timestamp).toBeCloseTo(0.2, 1);
    const results = c.msgs.filter((m) => m.type === 'Results');
    const interims = results.filter((m) => !m.is_final);
    expect(interims.length).toBeGreaterThan(1);
    const final = results.find((m) => m.speech_final)!;
    expect(final).toMatchObject({ type: 'Results', channel_index: [0, 1], is_final: true, speech_final: true, from_finalize: false });
    expect(final.channel.alternatives[0].transcript).toBe('Where is my order?');
    expect(final.channel.alternatives[0].words.map((w: any) => w.word)).toEqual(['where', 'is', 'my', 'order']);
    expect(final.channel.alternatives[0].words[3].end).toBeCloseTo(1.4, 1);
    expect(final.metadata.model_info.name).toBe('nova-3');
    // The final comes after 140 ms of silence audio: 140 ms after the last speech frame, in real time.
    const finalAt = c.at[c.msgs.indexOf(final)]!;
    expect(finalAt - lastSpeechSend).toBeGreaterThan(125);
    expect(finalAt - lastSpeechSend).toBeLessThan(175);
    expect(types).toContain('UtteranceEnd');
    expect(types[types.length - 1]).toBe('Metadata');
    expect(emu.record.audioBytes).toBe(frames.length * 640);
    expect(emu.record.messages).toEqual([{ type: 'CloseStream' }]);
    expect(emu.record.connections[0]!.query).toMatchObject({ model: 'nova-3', encoding: 'linear16', sample_rate: '16000' });
  });

  it('accepts the token subprotocol and echoes it', async () => {
    emu = new DeepgramEmulator({ apiKey: 'dg-key' });
    await emu.start();
    const c = open(`${emu.listenUrl}?${Q}`, {}, ['token', 'dg-key']);
    await c.opened;
    expect(c.ws.protocol).toBe('token');
    c.ws.close();
  });

  it('refuses a bad key with 401 and bad parameters with 400, with dg-error', async () => {
    emu = new DeepgramEmulator({ apiKey: 'dg-key' });
    await emu.start();
    const bad = open(`${emu.listenUrl}?${Q}`, { headers: { Authorization: 'Token wrong' } });
    await expect(bad.opened).rejects.toMatchObject({ status: 401 });
    const badParams = open(`${emu.listenUrl}?model=nova-3&encoding=linear16`);
    const err = await badParams.opened.catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.headers['dg-error']).toMatch(/sample_rate/);
    expect(err.headers['dg-request-id']).toBeTruthy();
  });

  it('closes idle sockets with 1011 NET-0001 unless KeepAlive is sent', async () => {
    emu = new DeepgramEmulator({ idleTimeoutMs: 150 });
    await emu.start();
    const kept = open(`${emu.listenUrl}?${Q}`);
    await kept.opened;
    const idle = open(`${emu.listenUrl}?${Q}`);
    await idle.opened;
    const timer = setInterval(() => kept.ws.send(JSON.stringify({ type: 'KeepAlive' })), 50);
    const closed = await idle.closed;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toContain('NET-0001');
    await sleep(200);
    expect(kept.ws.readyState).toBe(WebSocket.OPEN);
    clearInterval(timer);
    kept.ws.close();
  });

  it('answers Finalize with from_finalize results and reports malformed text as Error', async () => {
    emu = new DeepgramEmulator({ script: ['one two three four'] });
    await emu.start();
    const c = open(`${emu.listenUrl}?${Q}`);
    await c.opened;
    const frames = await utteranceFrames(1000, 100, 0);
    for (const f of frames) c.ws.send(f.samples);
    c.ws.send(JSON.stringify({ type: 'Finalize' }));
    c.ws.send('not json');
    await sleep(100);
    const fin = c.msgs.find((m) => m.from_finalize);
    expect(fin).toMatchObject({ is_final: true, speech_final: false, from_finalize: true });
    expect(fin!.channel.alternatives[0].transcript).toBe('one two three four');
    expect(c.msgs.find((m) => m.type === 'Error')).toMatchObject({ variant: 'SchemaError' });
    c.ws.close();
  });

  it('injects faults: refusal, drop mid-stream, stall, malformed message', async () => {
    emu = new DeepgramEmulator({ script: ['hello there'] });
    await emu.start();
    emu.inject({ refuse: { count: 1, status: 503 } });
    await expect(open(`${emu.listenUrl}?${Q}`).opened).rejects.toMatchObject({ status: 503 });
    emu.inject({ closeMidStream: { afterMs: 500, code: 1011, reason: 'NET-0000' } });
    const c = open(`${emu.listenUrl}?${Q}`);
    await c.opened;
    for (const f of await utteranceFrames(800)) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(f.samples);
    expect((await c.closed).code).toBe(1011);
    emu.inject({ malformed: true, stall: { afterMessages: 1 } });
    const d = open(`${emu.listenUrl}?${Q}`);
    const raw: string[] = [];
    d.ws.removeAllListeners('message');
    d.ws.on('message', (m) => raw.push(String(m)));
    await d.opened;
    for (const f of await utteranceFrames(800)) d.ws.send(f.samples);
    await sleep(100);
    expect(() => JSON.parse(raw[0]!)).toThrow();
    expect(raw.length).toBe(2); // the malformed one and one real message, then silence
    d.ws.close();
  });
});
