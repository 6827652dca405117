import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { encodeMulaw } from '../audio/mulaw';
import type { ClockTimer } from '../streams/clock';
import type { CartesiaChunk, CartesiaDone, CartesiaErrorMessage, CartesiaFlushDone, CartesiaServerMessage, CartesiaTimestamps, CartesiaWordTimestamps } from '../tts/cartesia';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { Emulator, type EmulatorOptions, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { type TtsPiece, TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link CartesiaEmulator}. */
export interface CartesiaEmulatorOptions extends EmulatorOptions, TtsTiming {
  /** Speech synthesiser (default: eSpeak NG when installed, else a voice-like tone). */
  synthesizer?: Synthesizer | undefined;
  /** Contexts generating at once per account before a 429 `error` (default 15, the Scale plan's). */
  concurrencyLimit?: number | undefined;
  /** A context expires this long after its last audio (default 1000 ms, as documented). */
  contextExpiryMs?: number | undefined;
  /** An idle socket is closed after this long (default 300 000 ms, as documented). */
  idleTimeoutMs?: number | undefined;
}

const RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);
const ENCODINGS = new Set(['pcm_s16le', 'pcm_f32le', 'pcm_mulaw']);
/** Fields that may change between the inputs of one context; all others must stay the same. */
const VARYING = new Set(['transcript', 'continue', 'duration', 'flush']);

interface Context {
  streamer: TtsStreamer;
  fields: string;
  buffer: string;
  ended: boolean;
  timestamps: boolean;
  audioMs: number;
  /** Flushes so far: text sent now belongs to flush `flushId + 1`. */
  flushId: number;
  /** Flushes whose `flush_done` is owed once what came before them is spoken. */
  flushes: number[];
  /**
   * The flush each text given to the streamer belongs to, in order, with its characters not yet
   * spoken: a chunk carries the `flush_id` of the text it speaks, not the count at sending time.
   */
  segments: { flushId: number; chars: number }[];
  word?: { text: string; startMs: number; endMs: number; flushId: number };
  bufferTimer?: ClockTimer;
  expiry?: ClockTimer;
}

/** The option names of {@link CartesiaEmulator}, for {@link checkEmulatorOptions}. */
const CARTESIA_EMULATOR_OPTIONS: Readonly<Record<keyof CartesiaEmulatorOptions, true>> = {
  synthesizer: true, concurrencyLimit: true, contextExpiryMs: true, idleTimeoutMs: true,
  timeToFirstAudioMs: true, realtimeFactor: true, chunkMs: true, apiKey: true, port: true,
  maxPayload: true, handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of Cartesia's TTS WebSocket (`/tts/websocket`, docs/providers.md): the
 * `Cartesia-Version` header (or `cartesia_version` query) and an `Authorization: Bearer` key (or
 * `X-API-Key`, `api_key`/`access_token` query) at the handshake; generation requests whose inputs
 * share a `context_id` and continue it (`continue: true`), with the same fields every time;
 * `flush` and `flush_done`, each chunk and timestamps message carrying the `flush_id` of the text it
 * speaks (1 before the first flush); `cancel`; `chunk` messages of base64 audio in the requested raw
 * format, word `timestamps` when asked, `done` after the last input; `error` messages with
 * `status_code`, `title`, `message` and `error_code`; contexts expiring 1 s after their last
 * audio, idle sockets closed after 5 minutes, a concurrency limit.
 */
export class CartesiaEmulator extends Emulator {
  private synth?: Synthesizer;
  /** Contexts open now, across sockets (for assertions). */
  openContexts = 0;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: CartesiaEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('CartesiaEmulator', opts, CARTESIA_EMULATOR_OPTIONS);
    this.synth = opts.synthesizer;
    this.guard = (req, url) => checkCartesiaHandshake(req, url, opts.apiKey);
    this.ws('/tts/websocket', (ws) => this.serve(ws));
  }

  override async start(): Promise<string> {
    this.synth ??= await defaultSynthesizer();
    return super.start();
  }

  /** `http://127.0.0.1:PORT`: the `baseURL` to give a Cartesia client (Cartesia's paths carry no version). */
  override get baseURL(): string {
    return this.httpUrl;
  }

  private serve(ws: WebSocket): void {
    const contexts = new Map<string, Context>();
    const expired = new Set<string>();
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    let sent = 0;
    let stalled = false;
    let idle: ClockTimer | undefined;
    const touch = () => {
      this.cancel(idle);
      idle = this.later(this.opts.idleTimeoutMs ?? 300_000, () => ws.close(1000, 'idle timeout'));
    };
    touch();
    const send = (msg: CartesiaServerMessage) => {
      if (ws.readyState === ws.OPEN && !stalled) ws.send(JSON.stringify(msg));
    };
    const error = (status: number, title: string, message: string, errorCode: string, contextId?: string) => {
      const msg: CartesiaErrorMessage = { type: 'error', done: true, status_code: status, title, message, error_code: errorCode, request_id: randomUUID(), ...(contextId !== undefined ? { context_id: contextId } : {}) };
      send(msg);
    };
    const drop = (id: string) => {
      const c = contexts.get(id);
      if (!c) return;
      c.streamer.dispose();
      this.cancel(c.bufferTimer);
      this.cancel(c.expiry);
      contexts.delete(id);
      expired.add(id);
      this.openContexts--;
    };
    const finishWord = (id: string, c: Context) => {
      const w = c.word;
      c.word = undefined;
      const text = w?.text.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
      if (!w || !text || !c.timestamps) return;
      const word_timestamps: CartesiaWordTimestamps = { words: [text], start: [w.startMs / 1000], end: [w.endMs / 1000] };
      const msg: CartesiaTimestamps = { type: 'timestamps', done: false, status_code: 206, context_id: id, flush_id: w.flushId, word_timestamps };
      send(msg);
    };
    const flushDone = (id: string, flushId: number) => {
      const msg: CartesiaFlushDone = { type: 'flush_done', done: false, flush_done: true, flush_id: flushId, status_code: 206, context_id: id };
      send(msg);
    };
    // When nothing is left to say: `done` after the last input, else the context expires in 1 s.
    const settle = (id: string, c: Context) => {
      if (contexts.get(id) !== c || !c.streamer.idle) return;
      finishWord(id, c);
      for (const flushId of c.flushes.splice(0)) flushDone(id, flushId);
      if (c.buffer.trim()) return;
      if (c.ended) {
        const done: CartesiaDone = { type: 'done', done: true, status_code: 206, context_id: id };
        send(done);
        drop(id);
      } else if (c.audioMs > 0) {
        this.cancel(c.expiry);
        c.expiry = this.later(this.opts.contextExpiryMs ?? 1000, () => drop(id));
      }
    };
    const speak = (id: string, c: Context, text: string) => {
      if (!text.trim()) return;
      this.cancel(c.expiry);
      c.segments.push({ flushId: c.flushId + 1, chars: [...text].length });
      c.streamer.speak(text);
      void c.streamer.whenIdle().then(() => settle(id, c));
    };
    // One piece of audio as a `chunk`, then the timestamps of the words it completed.
    const emit = (id: string, c: Context, piece: TtsPiece, rate: number, encoding: string) => {
      if (ws.readyState !== ws.OPEN) return;
      if (fault.stall && sent >= fault.stall.afterMessages) stalled = true;
      const cut = fault.closeMidStream;
      if (cut && sent >= (cut.afterMessages ?? 1)) {
        fault.closeMidStream = undefined;
        return void ws.close(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
      }
      if (stalled) return;
      if (this.faults.malformed) {
        this.faults.malformed = false;
        ws.send('{"type": "chunk", "data": ');
      }
      const bytes =
        encoding === 'pcm_mulaw'
          ? Buffer.from(encodeMulaw(piece.samples))
          : encoding === 'pcm_f32le'
            ? Buffer.from(Float32Array.from(piece.samples, (v) => v / 32768).buffer)
            : Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength);
      sent++;
      // A text's first piece always speaks a character: the piece starts the next text once this one's are spoken.
      if (piece.chars.length && c.segments[0]?.chars === 0 && c.segments.length > 1) c.segments.shift();
      const segment = c.segments[0];
      const flushId = segment?.flushId ?? c.flushId + 1;
      if (segment) segment.chars -= piece.chars.length;
      // Everything before a flush has been spoken once audio of the text after it begins.
      if (c.flushes.length && c.flushes[0]! < flushId) {
        if (c.word && c.word.flushId < flushId) finishWord(id, c);
        while (c.flushes.length && c.flushes[0]! < flushId) flushDone(id, c.flushes.shift()!);
      }
      const chunk: CartesiaChunk = { type: 'chunk', data: bytes.toString('base64'), done: false, status_code: 206, step_time: 20, context_id: id, flush_id: flushId };
      send(chunk);
      piece.chars.forEach((ch, i) => {
        const t = c.audioMs + piece.charStartTimesMs[i]!;
        if (/\s/.test(ch)) return finishWord(id, c);
        c.word ??= { text: '', startMs: t, endMs: t, flushId };
        c.word.text += ch;
        c.word.endMs = t + piece.charsDurationsMs[i]!;
      });
      c.audioMs += (piece.samples.length * 1000) / rate;
    };
    const open = (id: string, msg: Record<string, unknown>): Context | undefined => {
      const format = msg.output_format as { container?: unknown; encoding?: unknown; sample_rate?: unknown } | undefined;
      if (typeof msg.model_id !== 'string' || !msg.model_id) return void error(400, 'Invalid model', 'The model is not valid, make sure it is a valid model ID.', 'model_not_found', id);
      const voice = msg.voice as { id?: unknown } | string | undefined;
      if (!(typeof voice === 'string' ? voice : typeof voice?.id === 'string' && voice.id)) return void error(400, 'Invalid voice', 'voice must be a voice id or an object with an id.', 'invalid_request', id);
      if (format?.container !== 'raw' || !ENCODINGS.has(String(format.encoding)) || !RATES.has(Number(format.sample_rate))) {
        return void error(400, 'Invalid output format', 'output_format must be raw with encoding pcm_s16le, pcm_f32le or pcm_mulaw (the emulator does not do pcm_alaw) and a supported sample_rate.', 'invalid_request', id);
      }
      if (this.openContexts >= (this.opts.concurrencyLimit ?? 15)) return void error(429, 'Concurrency limit exceeded', 'Too many concurrent contexts for your plan.', 'concurrency_limit_exceeded', id);
      const rate = Number(format.sample_rate);
      const encoding = String(format.encoding);
      const c: Context = {
        fields: fieldsOf(msg),
        buffer: '',
        ended: false,
        timestamps: msg.add_timestamps === true,
        audioMs: 0,
        flushId: 0,
        flushes: [],
        segments: [],
        streamer: new TtsStreamer(this.synth!, rate, this.opts, (piece) => emit(id, c, piece, rate, encoding)),
      };
      contexts.set(id, c);
      this.openContexts++;
      return c;
    };
    ws.on('message', (data, isBinary) => {
      touch();
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg) return error(400, 'Invalid message', 'Messages must be JSON objects.', 'invalid_request');
      const id = msg.context_id;
      if (typeof id !== 'string' || !id) return error(400, 'Invalid message', 'context_id is required.', 'invalid_request');
      if (msg.cancel === true) return drop(id); // no more messages for this context
      if (typeof msg.transcript !== 'string') return error(400, 'Invalid message', 'transcript is required.', 'invalid_request', id);
      if (expired.has(id)) return error(400, 'Context closed', 'This context has expired or completed; start a new context.', 'context_closed', id);
      const c = contexts.get(id) ?? open(id, msg);
      if (!c) return;
      if (c.fields !== fieldsOf(msg)) return error(400, 'Invalid message', 'Inputs on the same context must keep all fields except transcript and continue the same.', 'invalid_request', id);
      if (c.ended) return error(400, 'Context closed', 'This context received continue: false; no more inputs are accepted.', 'context_closed', id);
      this.cancel(c.expiry);
      c.buffer += msg.transcript;
      if (msg.continue !== true) c.ended = true;
      const delay = typeof msg.max_buffer_delay_ms === 'number' ? msg.max_buffer_delay_ms : 3000;
      this.cancel(c.bufferTimer);
      let text: string;
      if (c.ended || msg.flush === true || delay === 0) {
        text = c.buffer;
      } else {
        // Generate up to the last clause boundary; hold the rest until more text or the delay.
        const m = /^[\s\S]*[.!?,;:](\s+|$)/.exec(c.buffer);
        text = m ? m[0] : '';
        if (c.buffer.length > text.length) {
          c.bufferTimer = this.later(delay, () => {
            const rest = c.buffer;
            c.buffer = '';
            speak(id, c, rest);
          });
        }
      }
      c.buffer = c.buffer.slice(text.length);
      // The text of a flush message belongs before the flush; what comes after it, to the next flush_id.
      speak(id, c, text);
      if (msg.flush === true) c.flushes.push(++c.flushId);
      if (!text.trim()) settle(id, c);
    });
    ws.on('close', () => {
      this.cancel(idle);
      for (const id of [...contexts.keys()]) drop(id);
    });
  }
}

/** The fields that must stay the same across a context's inputs, as a comparable string. */
function fieldsOf(msg: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(msg).filter((k) => !VARYING.has(k)).sort().map((k) => [k, msg[k]]));
}

/**
 * Checks a Cartesia WebSocket handshake: a version (`Cartesia-Version` header or
 * `cartesia_version` query) and a key (`Authorization: Bearer`, `X-API-Key`, or the `api_key` or
 * `access_token` query). Answers 400 without a version, 401 without a valid key.
 */
export function checkCartesiaHandshake(req: IncomingMessage, url: URL, apiKey?: string): {
  /** The HTTP status of the refusal. */
  status: number;
  /** Body of the refusal. */
  body: string;
} | undefined {
  const version = req.headers['cartesia-version'] ?? url.searchParams.get('cartesia_version');
  if (!version) return { status: 400, body: JSON.stringify({ error: 'Cartesia-Version header or cartesia_version query parameter is required' }) };
  const auth = req.headers.authorization;
  const key = (typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7) : undefined) ?? req.headers['x-api-key'] ?? url.searchParams.get('api_key') ?? url.searchParams.get('access_token');
  if (typeof key !== 'string' || !key || (apiKey !== undefined && key !== apiKey)) return { status: 401, body: JSON.stringify({ error: 'Invalid API key' }) };
  return undefined;
}
