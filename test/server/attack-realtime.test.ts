// The attack suite, Realtime path: a malformed, stalled, flooding or slow Realtime server
// against OpenAiRealtime and a VoiceSession with it as the brain. Each test failed before its fix.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { OpenAiRealtime, ProtocolError, ProviderError, TimeoutError, VoiceSession, type AudioFrame, type RealtimeEvent } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { Channel } from '../../src/streams/channel';
import { sleep } from '../helpers';

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Prints a figure for docs/reliability.md when VOXLINE_FIGURES is set. */
const figure = (name: string, value: unknown) => void (process.env.VOXLINE_FIGURES && console.log(`FIGURE ${name}: ${JSON.stringify(value)}`));

/** Heap and buffers after a full collection. */
async function used(): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Freed buffers leave the count once V8's array-buffer sweeper ran: collect, let it run, collect again.
  gc();
  await sleep(20);
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

type Msg = Record<string, any>;
/**
 * A Realtime server under the test's control: it confirms `session.update` with
 * `session.updated`, records what it is sent, and passes each client event to `on`.
 */
async function fakeRealtime(on: (ws: WebSocket, msg: Msg) => void = () => {}, { deaf = false } = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 << 20 });
  await new Promise((r) => wss.once('listening', r));
  const got: Msg[] = [];
  const sockets: WebSocket[] = [];
  const closedAt: number[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('close', () => closedAt.push(performance.now()));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Msg;
      got.push(msg);
      if (msg.type === 'session.update') {
        ws.send(JSON.stringify({ type: 'session.updated', event_id: 'e0', session: msg.session }));
        // Takes nothing more: the kernel's buffers fill, then the client's.
        if (deaf) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
        return;
      }
      on(ws, msg);
    });
  });
  cleanup.push(() => new Promise((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(r);
  }));
  const port = (wss.address() as { port: number }).port;
  return { baseURL: `http://127.0.0.1:${port}/v1`, got, sockets, closedAt };
}

const send = (ws: WebSocket, ev: Msg) => ws.send(JSON.stringify({ event_id: `e${Math.random()}`, ...ev }));
/** A response's opening events, as the service sends them after the user's turn. */
const turn = (ws: WebSocket, responseId: string) => {
  send(ws, { type: 'input_audio_buffer.speech_started', audio_start_ms: 0, item_id: 'item_user' });
  send(ws, { type: 'input_audio_buffer.speech_stopped', audio_end_ms: 500, item_id: 'item_user' });
  send(ws, { type: 'response.created', response: { id: responseId, object: 'realtime.response', status: 'in_progress', output: [] } });
};
const audioDelta = (responseId: string, itemId: string, bytes: Buffer) => ({ type: 'response.output_audio.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: bytes.toString('base64') });

/** The connection's events until it ends: the events and how it ended. */
async function drain(conn: AsyncIterable<RealtimeEvent>): Promise<{ events: RealtimeEvent[]; error?: unknown }> {
  const events: RealtimeEvent[] = [];
  try {
    for await (const ev of conn) events.push(ev);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

async function* frames(ms: number, rate = 24000): AsyncGenerator<AudioFrame> {
  for (let t = 0; t < ms; t += 20) {
    await sleep(2);
    yield { samples: new Int16Array(rate / 50), sampleRate: rate };
  }
}

describe('attack suite: the Realtime path', () => {
  it('1. a malformed server event is a ProtocolError on that connection, never an uncaught exception', async () => {
    const cases: [string, Msg][] = [
      ['an error without its body', { type: 'error' }],
      ['response.created without response', { type: 'response.created' }],
      ['response.done without response', { type: 'response.done' }],
      ['an audio delta without delta', { type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', output_index: 0, content_index: 0 }],
      ['an audio delta that is not base64', { type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', output_index: 0, content_index: 0, delta: '%%%' }],
      ['a transcript that is not a string', { type: 'conversation.item.input_audio_transcription.completed', item_id: 'i', content_index: 0, transcript: 42 }],
    ];
    for (const [what, ev] of cases) {
      const server = await fakeRealtime((ws, msg) => msg.type === 'input_audio_buffer.append' && send(ws, ev));
      const conn = await new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL, maxReconnects: 0 }).connect({});
      const ended = drain(conn);
      await conn.appendAudio({ samples: new Int16Array(480), sampleRate: 24000 });
      const { error } = await ended;
      expect(error, what).toBeInstanceOf(ProtocolError);
      expect((error as Error).message, what).toMatch(/openai sent a malformed|not base64/);
      await conn.close();
    }
  });

  it('4. function arguments that are not a string fail that tool step: a ProtocolError event, the reply ends, the call goes on', async () => {
    let step = 0;
    const server = await fakeRealtime((ws, msg) => {
      if (msg.type !== 'input_audio_buffer.append' || step > 0) return;
      step++;
      turn(ws, 'resp_call');
      send(ws, { type: 'response.function_call_arguments.done', response_id: 'resp_call', item_id: 'item_call', output_index: 0, call_id: 'call_1', name: 'lookup_order', arguments: { order_id: 7 } });
      send(ws, { type: 'response.done', response: { id: 'resp_call', status: 'completed' } });
      setTimeout(() => {
        turn(ws, 'resp_next');
        send(ws, audioDelta('resp_next', 'item_next', Buffer.alloc(4800)));
        send(ws, { type: 'response.done', response: { id: 'resp_next', status: 'completed' } });
      }, 100);
    });
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const output = virtualSpeaker({ sampleRate: 24000 });
    const ran = await Promise.race([session.run({ input: frames(6000), output }).then(() => 'resolved', (e: unknown) => e), sleep(10_000).then(() => 'still pending')]);
    expect(ran).toBe('resolved');
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect((errors[0] as Error).message).toMatch(/response.function_call_arguments.done event: arguments is an object/);
    expect(output.writtenMs).toBeGreaterThanOrEqual(100);
  });

  it('1. an odd byte of audio is carried to the next delta of the item, not thrown', async () => {
    const server = await fakeRealtime((ws, msg) => {
      if (msg.type !== 'input_audio_buffer.append') return;
      send(ws, { type: 'response.created', response: { id: 'r1' } });
      // 0x0102 0x0304 0x0506 little-endian, split 3 + 1 + 2 bytes.
      send(ws, audioDelta('r1', 'i1', Buffer.from([0x02, 0x01, 0x04])));
      send(ws, audioDelta('r1', 'i1', Buffer.from([0x03])));
      send(ws, audioDelta('r1', 'i1', Buffer.from([0x06, 0x05])));
      send(ws, { type: 'response.done', response: { id: 'r1', status: 'completed' } });
    });
    const conn = await new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL }).connect({});
    const events: RealtimeEvent[] = [];
    const it = (async () => {
      for await (const ev of conn) {
        events.push(ev);
        if (ev.type === 'response_done') return;
      }
    })();
    await conn.appendAudio({ samples: new Int16Array(480), sampleRate: 24000 });
    await it;
    const samples = events.flatMap((e) => (e.type === 'audio' ? [...e.frame.samples] : []));
    expect(samples).toEqual([0x0102, 0x0304, 0x0506]);
    await conn.close();
  });

  it('4. a response that never completes ends at the deadline: a TimeoutError, the next reply is heard, run() settles', async () => {
    let responses = 0;
    const server = await fakeRealtime((ws, msg) => {
      if (msg.type === 'input_audio_buffer.append' && responses === 0) {
        responses++;
        turn(ws, 'resp_silent'); // ... then nothing, ever
      }
      if (msg.type === 'response.cancel' && responses === 1) {
        // The next turn is answered in full.
        responses++;
        turn(ws, 'resp_next');
        send(ws, audioDelta('resp_next', 'item_next', Buffer.alloc(4800)));
        send(ws, { type: 'response.done', response: { id: 'resp_next', status: 'completed' } });
      }
    });
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL, stallTimeoutMs: 400 }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const output = virtualSpeaker({ sampleRate: 24000 });
    const t0 = performance.now();
    let inputEnded = 0;
    let stalledAt = 0;
    session.on('error', (e) => void (e instanceof TimeoutError && (stalledAt ||= performance.now())));
    async function* input() {
      yield* frames(2400);
      inputEnded = performance.now();
    }
    const ran = await Promise.race([session.run({ input: input(), output }).then(() => 'resolved', (e: unknown) => e), sleep(10_000).then(() => 'still pending')]);
    figure('realtime stalled response: ms from its start to its TimeoutError, and from the end of input to run() settling (stallTimeoutMs 400)', [Math.round(stalledAt - t0), Math.round(performance.now() - inputEnded)]);
    expect(ran).toBe('resolved');
    expect(errors.some((e) => e instanceof TimeoutError && /sent nothing for 400 ms/.test((e as Error).message))).toBe(true);
    // The stalled response was cancelled, and the next reply was played: the agent is not mute.
    expect(server.got.some((m) => m.type === 'response.cancel' && m.response_id === 'resp_silent')).toBe(true);
    expect(output.writtenMs).toBeGreaterThanOrEqual(100);
    expect(performance.now() - inputEnded).toBeLessThan(2000);
  });

  it('4. a response that stalls after the input ended: run() settles at the deadline, not never', async () => {
    const server = await fakeRealtime((ws, msg) => msg.type === 'input_audio_buffer.append' && !ws.listenerCount('ping') && (ws.on('ping', () => {}), turn(ws, 'resp_silent')));
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL, stallTimeoutMs: 400 }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    let inputEnded = 0;
    async function* input() {
      yield* frames(100);
      inputEnded = performance.now();
    }
    const ran = await Promise.race([session.run({ input: input(), output: virtualSpeaker({ sampleRate: 24000 }) }).then(() => 'resolved', (e: unknown) => e), sleep(10_000).then(() => 'still pending')]);
    const settled = performance.now() - inputEnded;
    figure('realtime response stalled after the input ended: ms from the end of input to run() settling (stallTimeoutMs 400)', Math.round(settled));
    expect(ran).toBe('resolved');
    expect(errors.some((e) => e instanceof TimeoutError)).toBe(true);
    expect(settled).toBeLessThan(2000);
  });

  it('9. Channel.offer honours the capacity: a full channel refuses the item', () => {
    const c = new Channel<number>(2);
    expect([c.offer(1), c.offer(2), c.offer(3)]).toEqual([true, true, false]);
    expect(c.size).toBe(2);
    expect(new Channel<number>(Infinity).offer(1)).toBe(true);
  });

  it('9. an event over 8 MiB is a ProtocolError; audio far ahead of playback is cut at 10 minutes', async () => {
    // 7 MB of base64 audio per delta (109 s), 20 of them: 36 minutes sent at once.
    const big = Buffer.alloc(5_250_000, 1);
    let flooded = false;
    const server = await fakeRealtime((ws, msg) => {
      if (msg.type !== 'input_audio_buffer.append' || flooded) return;
      flooded = true;
      turn(ws, 'resp_flood');
      for (let i = 0; i < 20; i++) send(ws, audioDelta('resp_flood', 'item_flood', big));
    });
    const before = await used();
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL }) });
    const errors: unknown[] = [];
    session.on('error', (e) => errors.push(e));
    const output = virtualSpeaker({ sampleRate: 24000 });
    const ran = session.run({ input: frames(200), output }).catch((e: unknown) => e);
    expect(await (async () => {
      for (const end = performance.now() + 10_000; performance.now() < end; await sleep(20)) if (server.got.some((m) => m.type === 'conversation.item.truncate')) return true;
      return false;
    })()).toBe(true);
    // Measured once the whole flood was sent and read (what the sockets held in between is transient).
    for (const end = performance.now() + 10_000; server.sockets[0]!.bufferedAmount > 0 && performance.now() < end; ) await sleep(20);
    await sleep(300);
    const grown = (await used()) - before;
    figure('realtime 20 deltas of 7 MB (36 min of audio) at once: MB held after GC', +(grown / 1e6).toFixed(1));
    const cut = server.got.find((m) => m.type === 'conversation.item.truncate')!;
    expect(cut).toMatchObject({ item_id: 'item_flood', content_index: 0 });
    // One delta playing and five waiting (656 s): the sixth waiting would pass 10 minutes ahead.
    expect(cut.audio_end_ms).toBe(6 * 109_375);
    expect(server.got.some((m) => m.type === 'response.cancel')).toBe(true);
    expect(errors.some((e) => e instanceof ProviderError && /ahead of playback/.test((e as Error).message))).toBe(true);
    // 10 minutes at 24 kHz is 28.8 MB; the 105 MB of audio sent is not kept.
    expect(grown).toBeLessThan(60e6);
    await session.close();
    await ran;

    // One event over the 8 MiB limit ends the connection with a ProtocolError.
    const huge = await fakeRealtime((ws, msg) => msg.type === 'input_audio_buffer.append' && send(ws, audioDelta('r', 'i', Buffer.alloc(6_400_000))));
    const conn = await new OpenAiRealtime({ apiKey: 'k', baseURL: huge.baseURL }).connect({});
    const ended = drain(conn);
    await conn.appendAudio({ samples: new Int16Array(480), sampleRate: 24000 });
    const { error } = await ended;
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/over 8 MiB/);
  });

  it('9. input audio waits for the socket (backpressure): 10 minutes are not taken at once', async () => {
    const server = await fakeRealtime(undefined, { deaf: true });
    const conn = await new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL }).connect({});
    void drain(conn);
    let taken = 0;
    const total = 30_000; // 10 minutes of 20 ms frames at 24 kHz
    const pump = (async () => {
      for (; taken < total; taken++) await conn.appendAudio({ samples: new Int16Array(480), sampleRate: 24000 });
    })();
    await sleep(1500);
    figure('realtime input backpressure: 20 ms frames taken in 1.5 s of 30000 offered', taken);
    expect(taken).toBeLessThan(total / 2);
    await conn.close();
    await pump;
  });

  it('10. close() during a long delta releases the socket and the frames within its deadline', async () => {
    let started = false;
    const server = await fakeRealtime((ws, msg) => {
      if (msg.type !== 'input_audio_buffer.append' || started) return;
      started = true;
      turn(ws, 'resp_long');
      // 109 s of audio in one delta, then more, never done.
      send(ws, audioDelta('resp_long', 'item_long', Buffer.alloc(5_250_000, 1)));
      const more = setInterval(() => ws.readyState === ws.OPEN && send(ws, audioDelta('resp_long', 'item_long', Buffer.alloc(48_000, 1))), 50);
      ws.on('close', () => clearInterval(more));
    });
    const session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: server.baseURL }) });
    const output = virtualSpeaker({ sampleRate: 24000 });
    async function* input() {
      yield* frames(200);
      await sleep(60_000); // the caller stays on the line
    }
    const ran = session.run({ input: input(), output }).catch((e: unknown) => e);
    for (const end = performance.now() + 5000; output.writtenMs < 1000 && performance.now() < end; ) await sleep(20);
    expect(output.writtenMs).toBeGreaterThan(1000);
    const t0 = performance.now();
    let closedAt = 0;
    session.on('closed', () => (closedAt = performance.now()));
    await session.close();
    for (const end = performance.now() + 3000; !server.closedAt.length && performance.now() < end; ) await sleep(10);
    figure('realtime close() during a long delta: ms to closed, ms to the socket released', [Math.round(closedAt - t0), Math.round((server.closedAt[0] ?? NaN) - t0)]);
    expect(closedAt - t0).toBeLessThan(1500);
    // Nothing more comes in: the reply's queued frames were dropped with it, and the socket is gone.
    expect((session as unknown as { brain: { reply?: unknown } }).brain.reply).toBeUndefined();
    expect(server.closedAt.length).toBe(1);
    expect(server.closedAt[0]! - t0).toBeLessThan(2500);
    await ran;
  });
});
