import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AuraEmulator, ElevenLabsEmulator, GatewayEmulator } from '../../src/testing/index';
import { toneSynthesizer } from '../../src/index';
import { utteranceFrames, sleep } from '../helpers';

let emu: ElevenLabsEmulator | GatewayEmulator;
afterEach(() => emu?.close());

function open(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const msgs: any[] = [];
  const at: number[] = [];
  ws.on('message', (d, bin) => { msgs.push(bin ? d : JSON.parse(String(d))); at.push(performance.now()); });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
  const opened = new Promise<void>((res, rej) => { ws.on('open', () => res()); ws.on('unexpected-response', (_q, resp) => rej(Object.assign(new Error('refused'), { status: resp.statusCode }))); ws.on('error', () => {}); });
  return { ws, msgs, at, closed, opened };
}

describe('ElevenLabsEmulator', () => {
  const path = (q = 'model_id=eleven_flash_v2_5&output_format=pcm_16000') => `/v1/text-to-speech/rachel/stream-input?${q}`;

  it('speaks flushed text with base64 PCM, alignment, isFinal and a 1000 close, at the configured TTFA', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer({ sampleRate: 22050 }), timeToFirstAudioMs: 100 });
    await emu.start();
    const c = open(emu.wsUrl + path(), { 'xi-api-key': 'xi' });
    await c.opened;
    c.ws.send(JSON.stringify({ text: ' ', voice_settings: { stability: 0.5, similarity_boost: 0.8 }, generation_config: { chunk_length_schedule: [120, 160, 250, 290] } }));
    const t0 = performance.now();
    c.ws.send(JSON.stringify({ text: 'Hello there. ', flush: true }));
    await sleep(50);
    c.ws.send(JSON.stringify({ text: '' }));
    expect((await c.closed).code).toBe(1000);
    const audio = c.msgs.filter((m) => m.audio);
    expect(audio.length).toBeGreaterThan(2);
    expect(c.at[0]! - t0).toBeGreaterThan(95);
    expect(c.at[0]! - t0).toBeLessThan(600); // loose: a loaded machine delays timers, never fires them early
    let bytes = 0;
    for (const m of audio) {
      expect(m.alignment.chars.length).toBe(m.alignment.charStartTimesMs.length);
      expect(m.alignment.charDurationsMs.length).toBe(m.alignment.chars.length);
      expect(m.normalizedAlignment).toEqual(m.alignment);
      bytes += Buffer.from(m.audio, 'base64').length;
    }
    expect(audio.flatMap((m) => m.alignment.chars).join('')).toBe('Hello there. ');
    expect(bytes % 2).toBe(0);
    expect(bytes / 2 / 16000).toBeCloseTo(('Hello there. '.trim().length * 65) / 1000, 1);
    expect(c.msgs[c.msgs.length - 1]).toEqual({ isFinal: true });
  });

  it('takes the key from the first message, follows the chunk schedule, and encodes ulaw_8000', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10 });
    await emu.start();
    const c = open(emu.wsUrl + path('output_format=ulaw_8000'));
    await c.opened;
    c.ws.send(JSON.stringify({ text: ' ', xi_api_key: 'xi', generation_config: { chunk_length_schedule: [50] } }));
    c.ws.send(JSON.stringify({ text: 'short ' }));
    await sleep(80);
    expect(c.msgs.length).toBe(0); // below the schedule: buffered
    c.ws.send(JSON.stringify({ text: 'and now enough words to pass the fifty character mark ' }));
    await sleep(150);
    expect(c.msgs.length).toBeGreaterThan(0);
    c.ws.send(JSON.stringify({ text: '' }));
    await c.closed;
    const audio = c.msgs.filter((m) => m.audio);
    const seconds = audio.reduce((n, m) => n + Buffer.from(m.audio, 'base64').length, 0) / 8000;
    expect(seconds).toBeGreaterThan(3); // one byte per sample at 8 kHz
  });

  it('refuses bad input like the service: wrong key, bad first message, inactivity', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer() });
    await emu.start();
    await expect(open(emu.wsUrl + path(), { 'xi-api-key': 'bad' }).opened).rejects.toMatchObject({ status: 401 });
    const a = open(emu.wsUrl + path());
    await a.opened;
    a.ws.send(JSON.stringify({ text: ' ', xi_api_key: 'bad' }));
    expect((await a.closed).code).toBe(1008);
    expect(a.msgs[0]).toMatchObject({ error: 'invalid_api_key', code: 1008 });
    const b = open(emu.wsUrl + path(), { 'xi-api-key': 'xi' });
    await b.opened;
    b.ws.send(JSON.stringify({ text: 'no init' }));
    expect((await b.closed).code).toBe(1008);
    const t = open(emu.wsUrl + path('output_format=pcm_16000&inactivity_timeout=1'), { 'xi-api-key': 'xi' });
    await t.opened;
    t.ws.send(JSON.stringify({ text: ' ' }));
    const closed = await t.closed;
    expect(closed.code).toBe(1008);
    expect(t.msgs[0].error).toBe('input_timeout_exceeded');
  });

  it('injects a mid-stream close and a malformed message', async () => {
    emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 });
    await emu.start();
    emu.inject({ closeMidStream: { afterMessages: 2, code: 1011 } });
    const c = open(emu.wsUrl + path(), { 'xi-api-key': 'k' });
    await c.opened;
    c.ws.send(JSON.stringify({ text: ' ' }));
    c.ws.send(JSON.stringify({ text: 'A long sentence that takes a while to say. ', flush: true }));
    expect((await c.closed).code).toBe(1011);
    expect(c.msgs.length).toBe(2);
  });
});

describe('GatewayEmulator', () => {
  it('serves chat, streaming STT and streaming TTS behind one bearer key', async () => {
    emu = new GatewayEmulator({ apiKey: 'sk-aig-1', script: ['hello gateway'], synthesizer: toneSynthesizer(), timeToFirstTokenMs: 20, timeToFirstAudioMs: 20 });
    await emu.start();
    const auth = { Authorization: 'Bearer sk-aig-1' };
    const chat = await fetch(`${emu.baseURL}/chat/completions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'x-aig-tag': 'demo' }, body: JSON.stringify({ model: 'moonshot/kimi-k2.6', messages: [{ role: 'user', content: 'hi' }] }) });
    expect((await chat.json()).choices[0].message.content).toMatch(/Hello/);
    expect(emu.record.connections[0]!.headers['x-aig-tag']).toBe('demo');
    await expect(open(`${emu.wsUrl}/v1/audio/transcriptions/stream?model=deepgram/nova-3`, { Authorization: 'Bearer wrong' }).opened).rejects.toMatchObject({ status: 401 });

    const stt = open(`${emu.wsUrl}/v1/audio/transcriptions/stream?model=deepgram/nova-3`, auth);
    await stt.opened;
    for (const f of await utteranceFrames(700)) stt.ws.send(f.samples);
    stt.ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect((await stt.closed).code).toBe(1000);
    const final = stt.msgs.find((m) => m.is_final);
    expect(final).toMatchObject({ transcript: 'hello gateway', is_final: true, speech_final: true });

    const tts = open(`${emu.wsUrl}/v1/audio/speech/stream?model=elevenlabs/eleven-turbo-v3&voice=rachel`, auth);
    await tts.opened;
    tts.ws.send(JSON.stringify({ text: 'Hi from the gateway.' }));
    tts.ws.send(JSON.stringify({ text: '' }));
    expect((await tts.closed).code).toBe(1000);
    const pcm = tts.msgs.filter((m) => Buffer.isBuffer(m));
    const samples = pcm.reduce((n, b) => n + b.length, 0) / 2;
    expect(samples / 24000).toBeCloseTo(('Hi from the gateway.'.length * 65) / 1000, 1);

    const rt = open(`${emu.wsUrl}/v1/realtime?model=deepgram/nova-3&encoding=linear16&sample_rate=16000&interim_results=true`, auth);
    await rt.opened;
    rt.ws.close();
  });
});

describe('ElevenLabsEmulator multi-context socket', () => {
  const path = '/v1/text-to-speech/rachel/multi-stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000';

  it('speaks per context, tags audio with contextId, ends contexts with isFinal, and enforces the 5-context limit', async () => {
    emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10 });
    await emu.start();
    const c = open(emu.wsUrl + path, { 'xi-api-key': 'xi' });
    await c.opened;
    c.ws.send(JSON.stringify({ text: ' ', context_id: 'a', voice_settings: { stability: 0.5 } }));
    c.ws.send(JSON.stringify({ text: 'Hello there. ', context_id: 'a', flush: true }));
    await sleep(150);
    const audio = c.msgs.filter((m) => m.audio);
    expect(audio.length).toBeGreaterThan(0);
    expect(audio.every((m) => m.contextId === 'a' && m.alignment.chars.length === m.alignment.charStartTimesMs.length)).toBe(true);
    c.ws.send(JSON.stringify({ text: 'Not flushed, never spoken. ', context_id: 'a' }));
    c.ws.send(JSON.stringify({ context_id: 'a', close_context: true }));
    // The flushed text is still spoken under its contextId, then the context ends with isFinal.
    while (!c.msgs.some((m) => m.isFinal)) await sleep(20);
    expect(c.msgs.at(-1)).toEqual({ isFinal: true, contextId: 'a' });
    expect(c.msgs.filter((m) => m.audio).flatMap((m) => m.alignment.chars).join('')).toBe('Hello there. ');
    expect(emu.openContexts).toBe(0);
    for (const id of ['1', '2', '3', '4', '5']) c.ws.send(JSON.stringify({ text: ' ', context_id: id }));
    c.ws.send(JSON.stringify({ text: ' ', context_id: '6' }));
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(c.msgs.at(-1)).toMatchObject({ error: 'max_active_conversations', code: 1008 });
  });
});

describe('AuraEmulator', () => {
  it('speaks on Flush (binary audio, then Flushed), answers Clear with Cleared, and closes on Close', async () => {
    const aura = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10 });
    emu = aura as never;
    await aura.start();
    await expect(open(`${aura.speakUrl}?model=aura-2-thalia-en`, { Authorization: 'Token nope' }).opened).rejects.toMatchObject({ status: 401 });
    const c = open(`${aura.speakUrl}?model=aura-2-thalia-en&encoding=linear16&sample_rate=16000`, { Authorization: 'Token dg' });
    await c.opened;
    c.ws.send(JSON.stringify({ type: 'Speak', text: 'Hi.' }));
    c.ws.send(JSON.stringify({ type: 'Flush' }));
    await sleep(400);
    expect(c.msgs[0]).toMatchObject({ type: 'Metadata', model_name: 'aura-2-thalia-en' });
    const bytes = c.msgs.filter((m) => Buffer.isBuffer(m)).reduce((n, b) => n + b.length, 0);
    expect(bytes / 2 / 16000).toBeCloseTo((3 * 65) / 1000, 1);
    expect(c.msgs.at(-1)).toEqual({ type: 'Flushed', sequence_id: 0 });
    c.ws.send(JSON.stringify({ type: 'Speak', text: 'A longer sentence to be cleared.' }));
    c.ws.send(JSON.stringify({ type: 'Flush' }));
    c.ws.send(JSON.stringify({ type: 'Clear' }));
    await sleep(100);
    expect(c.msgs.at(-1)).toEqual({ type: 'Cleared', sequence_id: 2 });
    c.ws.send(JSON.stringify({ type: 'Close' }));
    expect((await c.closed).code).toBe(1000);
  });
});
