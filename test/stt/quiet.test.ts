import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConfigError, DeepgramFluxStt, DeepgramStt, ElevenLabsTts, OpenAiLlm, SttStream, VoiceSession, encodeMulaw, fallback, gateway, resampleStream, toneSynthesizer, type AudioFrame, type Transcription } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock } from '../../src/testing/index';
import { collect } from '../helpers';

// Quiet audio goes out in chunks (quietChunkMs), speech in pairs of frames after its first
// (speechChunkMs), the silence after speech frame by frame (quietHoldMs).

const RATE = 16000;
const FRAME_BYTES = 640; // 20 ms at 16 kHz

/** `ms` of 20 ms frames at `rate`: digital silence, or a loud square wave (about -12 dBFS). */
function frames(ms: number, loud: boolean, rate = RATE): AudioFrame[] {
  const n = rate / 50;
  return Array.from({ length: ms / 20 }, () => {
    const samples = new Int16Array(n);
    if (loud) for (let i = 0; i < n; i++) samples[i] = (i >> 4) % 2 ? 8000 : -8000;
    return { samples, sampleRate: rate };
  });
}

/** The frames, once the socket is open (audio sent before that is replayed frame by frame on open). */
async function* feed(list: AudioFrame[], after?: () => void) {
  await rec.opened;
  await new Promise((r) => setTimeout(r, 200));
  yield* list;
  after?.();
}

/**
 * The chunk sizes most tests here are written in, to show the mechanism frame by frame: quiet audio
 * in 100 ms messages, speech in pairs of frames after its first (the defaults are 200 and 100; see
 * 'the defaults').
 */
const PAIRS = { quietChunkMs: 100, speechChunkMs: 40 } as const;
/** Flux's quiet chunks stay at its default 80 ms. */
const FLUX_PAIRS = { speechChunkMs: 40 } as const;

/** Message lengths (ms) of `ms` of loud 20 ms frames (an odd number) at speechChunkMs 40: the first alone, then pairs. */
const speechMsgs = (ms: number) => [20, ...Array((ms - 20) / 40).fill(40)];

const bytesOf = (list: AudioFrame[]) => Buffer.concat(list.map((f) => Buffer.from(f.samples.buffer, f.samples.byteOffset, f.samples.byteLength)));

/** A provider that records every message of every connection, and closes on CloseStream. */
class Recorder {
  readonly connections: { binary: Buffer[]; log: (Buffer | string)[] }[] = [];
  /** Closes the first connection (1011) once it has this many audio messages. */
  dropFirstAfter?: number;
  /** Resolves when the first connection arrives. */
  readonly opened: Promise<void>;
  private onOpen!: () => void;
  private wss?: WebSocketServer;

  constructor() {
    this.opened = new Promise((r) => (this.onOpen = r));
  }

  async start(): Promise<string> {
    this.wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => this.wss!.once('listening', r));
    this.wss.on('connection', (ws: WebSocket) => {
      const conn = { binary: [] as Buffer[], log: [] as (Buffer | string)[] };
      const first = this.connections.length === 0;
      this.connections.push(conn);
      this.onOpen();
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (binary) {
          conn.binary.push(data);
          conn.log.push(data);
          if (first && this.dropFirstAfter !== undefined && conn.binary.length >= this.dropFirstAfter) ws.close(1011, 'drop');
          return;
        }
        const text = data.toString();
        conn.log.push(text);
        if (text.includes('CloseStream')) ws.close(1000);
      });
    });
    return `ws://127.0.0.1:${(this.wss.address() as { port: number }).port}/v1`;
  }

  /** Closes the open connections (1011), as a provider that drops the socket. */
  drop(): void {
    for (const c of this.wss?.clients ?? []) c.close(1011, 'drop');
  }

  /** Sends a final result (speech_final) covering audio from 0 to `endSec` on the open connection. */
  sendFinal(endSec: number): void {
    const msg = { type: 'Results', is_final: true, speech_final: true, start: 0, duration: endSec, channel: { alternatives: [{ transcript: 'hello there', confidence: 0.9, words: [] }] } };
    for (const c of this.wss?.clients ?? []) c.send(JSON.stringify(msg));
  }

  close(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    return new Promise((r) => (this.wss ? this.wss.close(() => r()) : r()));
  }
}

let rec: Recorder;
afterEach(() => rec?.close());

/** Audio time in ms at which each recorded message starts, and its length in ms. */
const spans = (binary: Buffer[]) => {
  let at = 0;
  return binary.map((b) => {
    const s = { at, ms: (b.length / 2 / RATE) * 1000 };
    at += s.ms;
    return s;
  });
};

/** Message lengths (ms) of the recorded audio starting in [from, to) ms of audio. */
const lengthsIn = (binary: Buffer[], from: number, to = Infinity) => spans(binary).filter((x) => x.at >= from && x.at < to).map((x) => x.ms);

describe('quiet audio is batched, speech goes in pairs after its first frame (quietChunkMs, speechChunkMs)', () => {
  it('Deepgram: 100 ms chunks while quiet; the first loud frame at once, then speech in pairs, then the silence frame by frame until endpointing and utterance end have run out; nothing lost or reordered', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    // Hold: max(endpointing 300, utterance_end 1000) + 250 = 1250 ms after the last loud frame.
    const input = [...frames(1000, false), ...frames(500, true), ...frames(2000, false)];
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(feed(input)));
    const conn = rec.connections[0]!;
    expect(Buffer.concat(conn.binary).equals(bytesOf(input))).toBe(true);
    const s = spans(conn.binary);
    // Before the speech: whole 100 ms chunks.
    expect(s.filter((x) => x.at < 1000).map((x) => x.ms)).toEqual(Array(10).fill(100));
    // The speech in pairs of frames after its first, and the 1250 ms after it one message per frame.
    const live = s.filter((x) => x.at >= 1000 && x.at < 2750).map((x) => x.ms);
    expect(live).toEqual([...speechMsgs(500), ...Array(63).fill(20)]); // silent frames starting before 2750 ms
    // Then quiet chunks again; the remainder goes out before CloseStream.
    const after = s.filter((x) => x.at >= 2750);
    expect(after.slice(0, -1).every((x) => x.ms === 100)).toBe(true);
    expect(after.at(-1)!.ms).toBeLessThanOrEqual(100);
    expect(conn.log.at(-1)).toBe('{"type":"CloseStream"}');
  });

  it('the hold follows the provider timers: endpointing 100 without utterance end holds 350 ms', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = [...frames(500, true), ...frames(1000, false)];
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS, endpointing: 100, utteranceEndMs: 0 }).transcribe(feed(input)));
    const s = spans(rec.connections[0]!.binary);
    expect(lengthsIn(rec.connections[0]!.binary, 0, 850)).toEqual([...speechMsgs(500), ...Array(18).fill(20)]);
    expect(s.filter((x) => x.at >= 850 && x.at < 1450).every((x) => x.ms === 100)).toBe(true);
  });

  it('the hold follows timers given through query, and Flux\'s eot_timeout_ms', async () => {
    rec = new Recorder();
    let baseURL = await rec.start();
    const input = [...frames(500, true), ...frames(1000, false)];
    // endpointing 50 through `query`, no utterance end: 300 ms.
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS, utteranceEndMs: 0, query: { endpointing: 50 } }).transcribe(feed(input)));
    let s = spans(rec.connections[0]!.binary);
    expect(lengthsIn(rec.connections[0]!.binary, 0, 800)).toEqual([...speechMsgs(500), ...Array(15).fill(20)]);
    expect(s.filter((x) => x.at >= 800 && x.at < 1400).every((x) => x.ms === 100)).toBe(true);
    await rec.close();
    // Flux with eot_timeout_ms 2000: 2250 ms, then 80 ms chunks.
    rec = new Recorder();
    baseURL = (await rec.start()).replace('/v1', '/v2');
    const long = [...frames(500, true), ...frames(3000, false)];
    await collect(new DeepgramFluxStt({ apiKey: 'dg', baseURL, ...FLUX_PAIRS, eotTimeoutMs: 2000 }).transcribe(feed(long)));
    s = spans(rec.connections[0]!.binary);
    expect(lengthsIn(rec.connections[0]!.binary, 0, 2750)).toEqual([...speechMsgs(500), ...Array(113).fill(20)]);
    expect(s.filter((x) => x.at >= 2750 && x.at < 3440).every((x) => x.ms === 80)).toBe(true);
  });

  it('a loud frame takes the quiet audio held before it along, in one message', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = [...frames(160, false), ...frames(100, true)];
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(feed(input)));
    // 100 ms chunk, then 60 ms held + the first loud frame, then loud frames in pairs.
    expect(spans(rec.connections[0]!.binary).map((x) => x.ms)).toEqual([100, 80, 40, 40]);
  });

  it('quietChunkMs 0 sends every frame as it comes', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = frames(400, false);
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, quietChunkMs: 0 }).transcribe(feed(input)));
    expect(rec.connections[0]!.binary.map((b) => b.length)).toEqual(Array(20).fill(FRAME_BYTES));
  });

  it('speechChunkMs: 0 sends speech frame by frame; 100 sends it in 100 ms after the first frame; frames of 40 ms or more never wait', async () => {
    const run = async (opts: { speechChunkMs?: number }, input: AudioFrame[]) => {
      rec = new Recorder();
      const baseURL = await rec.start();
      await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...opts }).transcribe(feed(input)));
      const binary = rec.connections[0]!.binary;
      await rec.close();
      expect(Buffer.concat(binary).equals(bytesOf(input))).toBe(true);
      return spans(binary).map((x) => x.ms);
    };
    const input = [...frames(300, true), ...frames(100, false)];
    expect(await run({ speechChunkMs: 0 }, input)).toEqual(Array(20).fill(20));
    expect(await run({ speechChunkMs: 20 }, input)).toEqual(Array(20).fill(20));
    // 15 loud frames: the first, two of 100 ms, then the last 80 ms go with the first silent frame.
    expect(await run({ speechChunkMs: 100 }, input)).toEqual([20, 100, 100, 100, 20, 20, 20, 20]);
    const loud60 = frames(60, true).map((f) => f.samples);
    const big = [0, 1, 2].map(() => ({ samples: Int16Array.from({ length: 960 * 2 }, (_, i) => loud60[0]![i % 320]!), sampleRate: RATE }));
    expect(await run({}, big)).toEqual([120, 120, 120]);
  });

  it('frames between quiet and speech level (-50 to -40 dBFS) go one by one, and speech after one starts again with a frame alone', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    // About -45 dBFS: a square wave of amplitude 184.
    const soft = frames(60, true).map((f) => ({ ...f, samples: f.samples.map((v) => Math.sign(v) * 184) }));
    const input = [...frames(100, true), ...soft, ...frames(100, true), ...frames(40, false)];
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(feed(input)));
    const binary = rec.connections[0]!.binary;
    expect(Buffer.concat(binary).equals(bytesOf(input))).toBe(true);
    expect(spans(binary).map((x) => x.ms)).toEqual([20, 40, 40, 20, 20, 20, 20, 40, 40, 20, 20]);
  });

  it('with no hold after speech (quietHoldMs 0), a held frame of speech goes with the first silent frame, not a quiet chunk later', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = [...frames(80, true), ...frames(200, false)];
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS, quietHoldMs: 0 }).transcribe(feed(input)));
    const binary = rec.connections[0]!.binary;
    expect(Buffer.concat(binary).equals(bytesOf(input))).toBe(true);
    expect(spans(binary).map((x) => x.ms)).toEqual([20, 40, 40, 100, 80]);
  });

  it('Finalize never overtakes a held frame of speech', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    t = new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(feed(frames(40, true), () => t.finalize()));
    await collect(t);
    expect(rec.connections[0]!.log.map((m) => (typeof m === 'string' ? m : m.length))).toEqual([FRAME_BYTES, FRAME_BYTES, '{"type":"Finalize"}', '{"type":"CloseStream"}']);
  });

  it('Flux sends quiet audio in 80 ms chunks (Deepgram’s recommended size)', async () => {
    rec = new Recorder();
    const baseURL = (await rec.start()).replace('/v1', '/v2');
    const input = frames(800, false);
    await collect(new DeepgramFluxStt({ apiKey: 'dg', baseURL }).transcribe(feed(input)));
    expect(spans(rec.connections[0]!.binary).map((x) => x.ms)).toEqual(Array(10).fill(80));
  });

  it('the defaults: Deepgram and the gateway send quiet audio in 200 ms messages and speech in 100 ms after its first frame; Flux 80 and 80', async () => {
    const input = [...frames(400, false), ...frames(500, true), ...frames(20, false)];
    const run = async (stt: (baseURL: string) => SttStream) => {
      rec = new Recorder();
      const baseURL = await rec.start();
      await collect(stt(baseURL).transcribe(feed(input)));
      const binary = rec.connections[0]!.binary;
      await rec.close();
      expect(Buffer.concat(binary).equals(bytesOf(input))).toBe(true);
      return spans(binary).map((x) => x.ms);
    };
    // 25 loud frames: the first alone, four of 100 ms, the last 80 ms with the silent frame.
    const deepgram = [200, 200, 20, 100, 100, 100, 100, 100];
    expect(await run((baseURL) => new DeepgramStt({ apiKey: 'dg', baseURL }))).toEqual(deepgram);
    expect(await run((baseURL) => gateway({ apiKey: 'sk-aig', baseURL }).stt('deepgram/nova-3'))).toEqual(deepgram);
    // Flux: 400 ms of quiet in five messages; 480 ms of speech after its first frame in six.
    expect(await run((baseURL) => new DeepgramFluxStt({ apiKey: 'dg', baseURL: baseURL.replace('/v1', '/v2') }))).toEqual([80, 80, 80, 80, 80, 20, 80, 80, 80, 80, 80, 80, 20]);
  });

  it('the gateway STT batches too, and a custom chunk size is kept', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = frames(600, false);
    await collect(gateway({ apiKey: 'sk-aig', baseURL }).stt('deepgram/nova-3', { quietChunkMs: 200 }).transcribe(feed(input)));
    expect(spans(rec.connections[0]!.binary).map((x) => x.ms)).toEqual([200, 200, 200]);
  });

  it('Finalize never overtakes held audio', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    t = new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(feed(frames(60, false), () => t.finalize()));
    await collect(t);
    const log = rec.connections[0]!.log;
    expect(log.map((m) => (typeof m === 'string' ? m : m.length))).toEqual([3 * FRAME_BYTES, '{"type":"Finalize"}', '{"type":"CloseStream"}']);
  });

  it('a dropped socket replays everything unacknowledged, held audio included, once', async () => {
    rec = new Recorder();
    rec.dropFirstAfter = 1;
    const baseURL = await rec.start();
    const input = [...frames(160, false), ...frames(200, true), ...frames(300, false)];
    async function* slow() {
      await rec.opened;
      await new Promise((r) => setTimeout(r, 200));
      for (const f of input) {
        yield f;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(slow()));
    expect(rec.connections.length).toBe(2);
    expect(Buffer.concat(rec.connections[1]!.binary).equals(bytesOf(input))).toBe(true);
  });

  it('refuses a chunk size (quiet or speech) outside 0 or 20-250 ms and a negative hold, at construction', () => {
    expect(() => new DeepgramStt({ apiKey: 'dg', quietChunkMs: 500 })).toThrow(ConfigError);
    expect(() => new DeepgramStt({ apiKey: 'dg', quietChunkMs: 10 })).toThrow(/quietChunkMs must be 0 \(off\) or between 20 and 250 ms, got 10/);
    expect(() => new DeepgramFluxStt({ apiKey: 'dg', quietHoldMs: -1 })).toThrow(/quietHoldMs/);
    expect(() => gateway({ apiKey: 'sk-aig' }).stt('deepgram/nova-3', { quietChunkMs: Number.NaN })).toThrow(ConfigError);
    expect(() => new DeepgramFluxStt({ apiKey: 'dg', speechChunkMs: 10 })).toThrow(/speechChunkMs must be 0 \(off\) or between 20 and 250 ms, got 10/);
    expect(() => new DeepgramStt({ apiKey: 'dg', speechChunkMs: 300 })).toThrow(ConfigError);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each message: a text message as is, an audio message as its length in bytes. */
const shape = (log: (Buffer | string)[]) => log.map((m) => (typeof m === 'string' ? m : m.length));
/** Audio bytes received before the first text message equal to `text`. */
function audioBefore(log: (Buffer | string)[], text: string): Buffer {
  const i = log.indexOf(text);
  return Buffer.concat(log.slice(0, i < 0 ? log.length : i).filter((m): m is Buffer => typeof m !== 'string'));
}

/** Makes the transcription's socket report a full send buffer while `full()` is true. */
function fakeBackpressure(t: Transcription, full: () => boolean): void {
  const ws = (t as unknown as { ws: object }).ws;
  Object.defineProperty(ws, 'bufferedAmount', { get: () => (full() ? 1 << 20 : 0), configurable: true });
}

const CLOSE = '{"type":"CloseStream"}';
const FINALIZE = '{"type":"Finalize"}';

/**
 * 60 ms of quiet audio is held; then the send buffer is reported full and a loud frame comes
 * (it and the held audio wait in the backpressure path); `during` runs while they wait, then
 * the buffer drains after 100 ms.
 */
function backedUpFeed(getT: () => Transcription, during: (t: Transcription) => void, sent: AudioFrame[]) {
  return (async function* () {
    await rec.opened;
    await sleep(200);
    const quiet = frames(60, false);
    const loud = frames(20, true);
    for (const f of quiet) {
      sent.push(f);
      yield f;
    }
    let full = true;
    fakeBackpressure(getT(), () => full);
    setTimeout(() => during(getT()), 30);
    setTimeout(() => (full = false), 130);
    sent.push(loud[0]!);
    yield loud[0]!;
    for (const f of frames(100, true)) {
      sent.push(f);
      yield f;
    }
  })();
}

describe('quiet batching: ordering under backpressure, the stall probe, mu-law and resampled input', () => {
  it('backpressure: Finalize does not overtake held quiet audio waiting for the send buffer', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const sent: AudioFrame[] = [];
    let t!: Transcription;
    t = new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(backedUpFeed(() => t, (x) => x.finalize(), sent));
    await collect(t);
    const log = rec.connections[0]!.log;
    // Everything up to and including the waiting loud frame (60 ms held + 20 ms) precedes Finalize.
    expect(shape(log).slice(0, 2)).toEqual([2560, FINALIZE]);
    expect(Buffer.concat(rec.connections[0]!.binary).equals(bytesOf(sent))).toBe(true);
  });

  it('backpressure: close() sends the held audio before CloseStream, none after', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const sent: AudioFrame[] = [];
    let t!: Transcription;
    let closing: Promise<void> | undefined;
    t = new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(backedUpFeed(() => t, (x) => (closing = x.close!()), sent));
    await collect(t);
    await closing;
    const log = rec.connections[0]!.log;
    const expected = bytesOf(sent.slice(0, 4)); // 60 ms quiet + the loud frame given before close()
    expect(shape(log)).toEqual([2560, CLOSE]);
    expect(audioBefore(log, CLOSE).equals(expected)).toBe(true);
    expect(log.at(-1)).toBe(CLOSE);
  });

  it('backpressure: an abort sends the held audio before CloseStream', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const sent: AudioFrame[] = [];
    const ac = new AbortController();
    let t!: Transcription;
    t = new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(backedUpFeed(() => t, () => ac.abort(), sent), { signal: ac.signal });
    await expect(collect(t)).rejects.toThrow(/aborted/);
    await sleep(300);
    const log = rec.connections[0]!.log;
    expect(shape(log)).toEqual([2560, CLOSE]);
    expect(audioBefore(log, CLOSE).equals(bytesOf(sent.slice(0, 4)))).toBe(true);
    expect(log.at(-1)).toBe(CLOSE);
  });

  it('the stall probe (Finalize) does not overtake held quiet audio', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const first = frames(100, false);
    const held = frames(40, false);
    const rest = frames(100, false);
    async function* feed() {
      await rec.opened;
      await sleep(200);
      yield* first; // one 100 ms message: the watchdog starts counting
      yield* held; // 40 ms held
      await sleep(240); // the watchdog probes (stallTimeoutMs 200) while 40 ms are held
      yield* rest;
    }
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS, stallTimeoutMs: 200 }).transcribe(feed()));
    const log = rec.connections[0]!.log;
    expect(shape(log).slice(0, 3)).toEqual([3200, 1280, FINALIZE]);
    expect(audioBefore(log, FINALIZE).equals(bytesOf([...first, ...held]))).toBe(true);
  });

  it('mu-law 8 kHz: 100 ms quiet chunks of 800 bytes, byte-exact, remainder before CloseStream', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const input = [...frames(260, false, 8000), ...frames(60, true, 8000), ...frames(40, false, 8000)];
    async function* feed() {
      await rec.opened;
      await sleep(200);
      yield* input;
    }
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS, encoding: 'mulaw' }).transcribe(feed()));
    const conn = rec.connections[0]!;
    const expected = Buffer.concat(input.map((f) => Buffer.from(encodeMulaw(f.samples))));
    expect(Buffer.concat(conn.binary).equals(expected)).toBe(true);
    expect(conn.binary.map((b) => b.length)).toEqual([800, 800, 640, 320, 160, 160]);
    expect(conn.log.at(-1)).toBe(CLOSE);
  });

  it('48 kHz input and odd frame sizes (10, 30, 60, 300 ms): nothing lost, duplicated or reordered', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    const mk = (ms: number, loud: boolean, rate: number): AudioFrame => {
      const n = (rate * ms) / 1000;
      const samples = new Int16Array(n);
      if (loud) for (let i = 0; i < n; i++) samples[i] = Math.round(8000 * Math.sin(i / 7));
      return { samples, sampleRate: rate };
    };
    const input = [mk(10, false, 48000), mk(30, false, 48000), mk(60, false, 48000), mk(300, false, 48000), mk(10, true, 48000), mk(60, false, 48000), mk(30, true, 48000), mk(10, false, 48000)];
    async function* feed() {
      await rec.opened;
      await sleep(200);
      yield* input;
    }
    await collect(new DeepgramStt({ apiKey: 'dg', baseURL }).transcribe(feed()));
    const expected: AudioFrame[] = [];
    for await (const f of resampleStream((async function* () { yield* input; })(), 16000)) expected.push(f);
    expect(Buffer.concat(rec.connections[0]!.binary).equals(bytesOf(expected))).toBe(true);
  });
});

/** Frames and calls in order, once the socket is open: a call runs (and is awaited) after every frame before it was sent. */
async function* steps(list: (AudioFrame[] | (() => unknown))[]) {
  await rec.opened;
  await sleep(200);
  for (const s of list) {
    if (typeof s === 'function') await s();
    else yield* s;
  }
}

/** Deepgram with its transcriptions passed through `wrap`. */
class WrappedDeepgram extends SttStream {
  readonly provider = 'deepgram';
  readonly sampleRate = 16000;
  constructor(
    private readonly inner: DeepgramStt,
    private readonly wrap: (t: Transcription) => Transcription,
  ) {
    super();
  }
  transcribe(...args: Parameters<DeepgramStt['transcribe']>): Transcription {
    return this.wrap(this.inner.transcribe(...args));
  }
}

/**
 * A two-turn call on a virtual clock against the emulators, with the STT `stt` makes for the
 * Deepgram emulator's `baseURL`; `watch` sees the session before it runs.
 */
async function twoTurnCall(stt: (baseURL: string) => SttStream, watch?: (session: VoiceSession) => void) {
  const clock = virtualClock();
  const dg = new DeepgramEmulator({ script: ['Hello there', 'Hello again'], clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80, clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  await Promise.all([dg.start(), oa.start(), el.start()]);
  try {
    const session = new VoiceSession({
      stt: stt(dg.baseURL),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      instructions: 'You are a test agent.',
      clock,
    });
    const turns: string[] = [];
    session.on('turn', (t) => turns.push(t.userText));
    watch?.(session);
    const caller = new ScriptedCaller({ lines: ['Hello there', 'Hello again'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
    await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000, clock }) });
    return { messages: dg.record.audioMessages, bytes: dg.record.audioBytes, turns, roles: session.history.map((m) => m.role) };
  } finally {
    await Promise.all([dg.close(), oa.close(), el.close()]);
  }
}

describe('turnEnded(): the consumer has taken the end of the turn, the quiet hold ends', () => {
  // Deepgram's default hold: 1250 ms after the last loud frame.
  it('quiet audio 250 ms or more after the speech goes out in quietChunkMs messages from the call on; without it, frame by frame for the hold', async () => {
    const run = async (release: boolean) => {
      rec = new Recorder();
      const baseURL = await rec.start();
      let t!: Transcription;
      const input = [...frames(500, true), ...frames(400, false)];
      const after = frames(1060, false);
      t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps([input, () => release && t.turnEnded!(), after, () => t.finalize()]));
      await collect(t);
      const conn = rec.connections[0]!;
      await rec.close();
      // Nothing lost or reordered; the held remainder goes out before Finalize.
      expect(Buffer.concat(conn.binary).equals(bytesOf([...input, ...after]))).toBe(true);
      expect(audioBefore(conn.log, FINALIZE).equals(bytesOf([...input, ...after]))).toBe(true);
      return conn.binary;
    };
    const released = await run(true);
    expect(lengthsIn(released, 0, 900)).toEqual([...speechMsgs(500), ...Array(20).fill(20)]);
    expect(lengthsIn(released, 900)).toEqual([...Array(10).fill(100), 60]);
    expect(released.length).toBe(44);
    const held = await run(false);
    // Without the call: frame by frame until 1750 ms (500 + 1250), then chunks.
    expect(lengthsIn(held, 0, 1760)).toEqual([...speechMsgs(500), ...Array(63).fill(20)]);
    expect(lengthsIn(held, 1760)).toEqual([100, 100]);
    expect(held.length).toBe(78);
  });

  it('a call less than 250 ms after the last loud frame keeps frame by frame until 250 ms after it', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    const input = [...frames(500, true), ...frames(100, false)];
    const after = frames(1000, false);
    t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps([input, () => t.turnEnded!(), after]));
    await collect(t);
    const binary = rec.connections[0]!.binary;
    expect(Buffer.concat(binary).equals(bytesOf([...input, ...after]))).toBe(true);
    // The frames starting before 750 ms (500 + 250) one by one, then 100 ms chunks.
    expect(lengthsIn(binary, 0, 760)).toEqual([...speechMsgs(500), ...Array(13).fill(20)]);
    expect(lengthsIn(binary, 760)).toEqual([...Array(8).fill(100), 40]);
  });

  it('a call after a final result that covers the speech ends the hold at once; loud audio past the final keeps the 250 ms', async () => {
    const run = async (finalEndSec: number) => {
      rec = new Recorder();
      const baseURL = await rec.start();
      let t!: Transcription;
      const input = [...frames(500, true), ...frames(100, false)];
      const after = frames(600, false);
      const final = async () => {
        rec.sendFinal(finalEndSec);
        await sleep(100);
      };
      t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps([input, final, () => t.turnEnded!(), after]));
      await collect(t);
      const binary = rec.connections[0]!.binary;
      await rec.close();
      expect(Buffer.concat(binary).equals(bytesOf([...input, ...after]))).toBe(true);
      return binary;
    };
    // The final covers the speech and the silence after it: from the call (at 600 ms) on, chunks.
    const covered = await run(0.6);
    expect(lengthsIn(covered, 0, 600)).toEqual([...speechMsgs(500), ...Array(5).fill(20)]);
    expect(lengthsIn(covered, 600)).toEqual(Array(6).fill(100));
    // The final ends at 300 ms, the loud frames at 500: frame by frame until 750 ms, as without a final.
    const past = await run(0.3);
    expect(lengthsIn(past, 0, 760)).toEqual([...speechMsgs(500), ...Array(13).fill(20)]);
    expect(lengthsIn(past, 760)).toEqual([100, 100, 100, 100, 40]);
  });

  it('after a reconnect, the final\'s audio is counted from where the new connection started', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    const quiet = frames(400, false);
    const speech = [...frames(300, true), ...frames(100, false)];
    const after = frames(600, false);
    const list = [
      quiet,
      // The first connection acknowledges the 400 ms of quiet audio, then drops: the second starts at 400 ms.
      async () => {
        rec.sendFinal(0.4);
        await sleep(100);
        rec.drop();
        while (rec.connections.length < 2) await sleep(10);
        await sleep(100);
      },
      speech,
      // The second connection's final covers its first 400 ms: to 800 ms, past the speech.
      async () => {
        rec.sendFinal(0.4);
        await sleep(100);
      },
      () => t.turnEnded!(),
      after,
    ];
    t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps(list));
    await collect(t);
    const second = rec.connections[1]!.binary;
    expect(Buffer.concat(second).equals(bytesOf([...speech, ...after]))).toBe(true);
    // On the second connection's own clock: the speech and the silence to the call (400 ms), then
    // chunks at once. Had the final been taken as ending at 400 ms of the whole stream, the 250 ms
    // after the speech (to 550 ms here) would have gone frame by frame.
    expect(lengthsIn(second, 0, 400)).toEqual([...speechMsgs(300), ...Array(5).fill(20)]);
    expect(lengthsIn(second, 400)).toEqual(Array(6).fill(100));
  });

  it('a loud frame after the release arms the full hold again', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    const input = [...frames(500, true), ...frames(400, false)];
    const after = [...frames(200, false), ...frames(100, true), ...frames(1500, false)];
    t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps([input, () => t.turnEnded!(), after]));
    await collect(t);
    const binary = rec.connections[0]!.binary;
    expect(Buffer.concat(binary).equals(bytesOf([...input, ...after]))).toBe(true);
    expect(lengthsIn(binary, 900, 1100)).toEqual([100, 100]);
    // The new speech and 1250 ms after it (to 2450 ms): frame by frame, then chunks again.
    expect(lengthsIn(binary, 1100, 2460)).toEqual([...speechMsgs(100), ...Array(63).fill(20)]);
    expect(lengthsIn(binary, 2460)).toEqual([100, 100, 40]);
  });

  it('Flux releases its hold too (80 ms chunks), and so does a fallback chain', async () => {
    const input = [...frames(500, true), ...frames(400, false)];
    const after = frames(800, false);
    const run = async (wrap: boolean) => {
      rec = new Recorder();
      const baseURL = (await rec.start()).replace('/v1', '/v2');
      let t!: Transcription;
      const flux = new DeepgramFluxStt({ apiKey: 'dg', baseURL, ...FLUX_PAIRS });
      t = (wrap ? fallback([flux]) : flux).transcribe(steps([input, () => t.turnEnded!(), after]));
      await collect(t);
      const binary = rec.connections[0]!.binary;
      await rec.close();
      expect(Buffer.concat(binary).equals(bytesOf([...input, ...after]))).toBe(true);
      return binary;
    };
    // Flux holds 5250 ms by default; from the call on, 80 ms chunks.
    const direct = await run(false);
    expect(lengthsIn(direct, 0, 900)).toEqual([...speechMsgs(500), ...Array(20).fill(20)]);
    expect(lengthsIn(direct, 900)).toEqual(Array(10).fill(80));
    // The chain reads its input ahead, so the call comes earlier in the audio (250 ms after the
    // speech at the earliest): without it, all 85 frames would go one by one.
    const chained = await run(true);
    expect(lengthsIn(chained, 0, 760)).toEqual([...speechMsgs(500), ...Array(13).fill(20)]);
    expect(chained.length).toBeLessThanOrEqual(43);
  });

  it('agentSpeaking(true): speech goes frame by frame while the agent talks (a barge-in waits on interims), a held frame at once; false: pairs again', async () => {
    rec = new Recorder();
    const baseURL = await rec.start();
    let t!: Transcription;
    const loud = () => frames(100, true);
    const list = [loud(), frames(40, false), () => t.agentSpeaking!(true), loud(), frames(40, false), () => t.agentSpeaking!(false), loud(), frames(20, true), () => t.agentSpeaking!(true), frames(20, false)];
    t = new DeepgramStt({ apiKey: 'dg', baseURL, ...PAIRS }).transcribe(steps(list));
    await collect(t);
    const binary = rec.connections[0]!.binary;
    expect(Buffer.concat(binary).equals(bytesOf(list.filter((x): x is AudioFrame[] => Array.isArray(x)).flat()))).toBe(true);
    expect(spans(binary).map((x) => x.ms)).toEqual([
      ...speechMsgs(100), 20, 20, // the user's turn: speech in pairs, then the silence frame by frame
      20, 20, 20, 20, 20, 20, 20, // the agent talks: every frame at once
      ...speechMsgs(100), // pairs again; a sixth loud frame is held for its pair...
      20, 20, // ...and sent alone when the agent starts, before the next frame
    ]);
  });

  it('a VoiceSession tells the STT when the agent talks, through a fallback chain too', async () => {
    const calls: boolean[] = [];
    const seen: string[] = [];
    await twoTurnCall(
      (baseURL) =>
        fallback([
          new WrappedDeepgram(new DeepgramStt({ apiKey: 'k', baseURL }), (t) => {
            const pass = t.agentSpeaking!.bind(t);
            return Object.assign(t, { agentSpeaking: (on: boolean) => (calls.push(on), pass(on)) });
          }),
        ]),
      (session) => {
        session.on('agent_speech_started', () => seen.push(`started, STT told ${calls.at(-1)}`));
        session.on('agent_speech_ended', () => seen.push(`ended, STT told ${calls.at(-1)}`));
      },
    );
    expect(calls).toEqual([true, false, true, false]);
    expect(seen).toEqual(['started, STT told true', 'ended, STT told false', 'started, STT told true', 'ended, STT told false']);
  });

  it('a VoiceSession ends the hold when it takes the end of the turn: fewer STT messages, the same conversation', async () => {
    // The STT with turnEnded() hidden: the session cannot end the hold (as before it existed).
    const noRelease = (t: Transcription): Transcription => ({ [Symbol.asyncIterator]: () => t[Symbol.asyncIterator](), finalize: () => t.finalize(), close: () => t.close!() });
    const call = (stt: 'frames' | 'hold' | 'release') =>
      twoTurnCall((baseURL) => {
        const deepgram = new DeepgramStt({ apiKey: 'k', baseURL, ...(stt === 'frames' ? { quietChunkMs: 0 } : {}) });
        return stt === 'hold' ? new WrappedDeepgram(deepgram, noRelease) : deepgram;
      });
    const frames = await call('frames');
    const hold = await call('hold');
    const release = await call('release');
    for (const c of [frames, hold, release]) {
      // Both turns heard and answered, whatever the batching.
      expect(c.turns).toEqual(['Hello there', 'Hello again']);
      expect(c.roles).toEqual(['user', 'assistant', 'user', 'assistant']);
    }
    expect(release.messages).toBeLessThan(frames.messages);
    // The hold after the first turn (1250 ms, of which about 1000 ms batched after the release) alone saves 30 or more.
    expect(release.messages).toBeLessThanOrEqual(hold.messages - 30);
  });
});
