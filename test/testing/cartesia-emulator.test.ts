import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toneSynthesizer } from '../../src/index';
import { CartesiaEmulator } from '../../src/testing/index';
import { sleep } from '../helpers';

let emu: CartesiaEmulator | undefined;
afterEach(async () => { await emu?.close(); emu = undefined; });

function open(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const msgs: any[] = [];
  const at: number[] = [];
  ws.on('message', (d) => { msgs.push(JSON.parse(String(d))); at.push(performance.now()); });
  const opened = new Promise<void>((res, rej) => { ws.on('open', () => res()); ws.on('unexpected-response', (_q, r) => rej(Object.assign(new Error('refused'), { status: r.statusCode }))); ws.on('error', () => {}); });
  return { ws, msgs, at, opened };
}
const base = { model_id: 'sonic-3', voice: { mode: 'id', id: 'v' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 } };
const headers = { authorization: 'Bearer k', 'cartesia-version': '2026-08-14' };

describe('CartesiaEmulator', () => {
  it('checks the handshake: a version and a key, by header or query', async () => {
    emu = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer() });
    await emu.start();
    const url = `${emu.wsUrl}/tts/websocket`;
    await expect(open(url, { authorization: 'Bearer k' }).opened).rejects.toMatchObject({ status: 400 });
    await expect(open(url, { 'cartesia-version': '2026-08-14', authorization: 'Bearer nope' }).opened).rejects.toMatchObject({ status: 401 });
    const c = open(`${url}?api_key=k&cartesia_version=2024-06-10`);
    await c.opened;
    const x = open(url, { 'x-api-key': 'k', 'cartesia-version': '2024-06-10' });
    await x.opened;
    c.ws.close();
    x.ws.close();
  });

  it('buffers text to a clause boundary or max_buffer_delay_ms; flush generates at once and answers flush_done', async () => {
    emu = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10, realtimeFactor: 0.1 });
    await emu.start();
    const c = open(`${emu.wsUrl}/tts/websocket`, headers);
    await c.opened;
    const t0 = performance.now();
    c.ws.send(JSON.stringify({ ...base, context_id: 'a', transcript: 'no boundary yet', continue: true, max_buffer_delay_ms: 300 }));
    await sleep(150);
    expect(c.msgs).toEqual([]); // held
    await sleep(300);
    expect(c.msgs[0]).toMatchObject({ type: 'chunk', context_id: 'a', done: false, status_code: 206 });
    expect(c.at[0]! - t0).toBeGreaterThan(290);
    c.ws.send(JSON.stringify({ ...base, context_id: 'b', transcript: 'also no boundary', continue: true, max_buffer_delay_ms: 3000 }));
    c.ws.send(JSON.stringify({ ...base, context_id: 'b', transcript: '', continue: true, flush: true, max_buffer_delay_ms: 3000 }));
    await sleep(400);
    const b = c.msgs.filter((m) => m.context_id === 'b');
    expect(b.some((m) => m.type === 'chunk')).toBe(true);
    expect(b.at(-1)).toEqual({ type: 'flush_done', done: false, flush_done: true, flush_id: 1, status_code: 206, context_id: 'b' });
    c.ws.close();
  });

  it('flush_id as documented: the audio of text sent before the first flush carries 1, after it 2; flush_done 1 follows the last audio of 1', async () => {
    emu = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10, realtimeFactor: 0.1 });
    await emu.start();
    const c = open(`${emu.wsUrl}/tts/websocket`, headers);
    await c.opened;
    const input = (transcript: string, more: Record<string, unknown>) => c.ws.send(JSON.stringify({ ...base, add_timestamps: true, context_id: 'a', transcript, ...more }));
    // Cartesia's example (docs.cartesia.ai, Context Flushing and Flush IDs): transcript 1, flush, transcript 2.
    input('Stay hungry, ', { continue: true });
    input('', { continue: true, flush: true });
    input('stay foolish.', { continue: false });
    await sleep(600);
    const seq = c.msgs.map((m) => (m.type === 'flush_done' ? `flush_done ${m.flush_id}` : m.type === 'done' ? 'done' : `${m.type} ${m.flush_id}`));
    expect(seq.at(-1)).toBe('done');
    const fd = seq.indexOf('flush_done 1');
    expect(fd).toBeGreaterThan(0);
    expect(new Set(seq.slice(0, fd))).toEqual(new Set(['chunk 1', 'timestamps 1']));
    expect(new Set(seq.slice(fd + 1, -1))).toEqual(new Set(['chunk 2', 'timestamps 2']));
    const words = (id: number) => c.msgs.filter((m) => m.type === 'timestamps' && m.flush_id === id).flatMap((m) => m.word_timestamps.words);
    expect(words(1)).toEqual(['Stay', 'hungry']);
    expect(words(2)).toEqual(['stay', 'foolish']);
    c.ws.close();
  });

  it('refuses a changed field within a context, and input after continue:false', async () => {
    emu = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 });
    await emu.start();
    const c = open(`${emu.wsUrl}/tts/websocket`, headers);
    await c.opened;
    c.ws.send(JSON.stringify({ ...base, context_id: 'a', transcript: 'Hi. ', continue: true }));
    c.ws.send(JSON.stringify({ ...base, model_id: 'sonic-2', context_id: 'a', transcript: 'There. ', continue: true }));
    c.ws.send(JSON.stringify({ ...base, context_id: 'b', transcript: 'Bye.', continue: false }));
    c.ws.send(JSON.stringify({ ...base, context_id: 'b', transcript: 'More.', continue: true }));
    await sleep(400);
    const errors = c.msgs.filter((m) => m.type === 'error');
    expect(errors.map((e) => [e.context_id, e.error_code, e.status_code])).toEqual([['a', 'invalid_request', 400], ['b', 'context_closed', 400]]);
    expect(errors.every((e) => typeof e.title === 'string' && typeof e.message === 'string' && e.done === true)).toBe(true);
    expect(c.msgs.filter((m) => m.context_id === 'b').at(-1)).toMatchObject({ type: 'done', done: true });
    c.ws.close();
  });
});
