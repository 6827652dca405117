import type { ClockTimer } from '../streams/clock';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { encodeMulaw } from '../audio/mulaw';
import { Emulator, type EmulatorOptions, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { type TtsPiece, TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link ElevenLabsEmulator}. */
export interface ElevenLabsEmulatorOptions extends EmulatorOptions, TtsTiming {
  /** Speech synthesiser (default: eSpeak NG when installed, else a voice-like tone). */
  synthesizer?: Synthesizer | undefined;
}

const PCM_RATES = new Set([8000, 16000, 22050, 24000, 44100]);

/** Parses an ElevenLabs `output_format` into a rate and encoding, or undefined if unsupported here. */
export function parseOutputFormat(format: string): {
  /** Sample rate, in Hz. */
  rate: number;
  /** PCM16 or mu-law. */
  encoding: 'pcm' | 'ulaw';
} | undefined {
  const [kind, rate] = format.split('_');
  const r = Number(rate);
  if (kind === 'pcm' && PCM_RATES.has(r)) return { rate: r, encoding: 'pcm' };
  if (kind === 'ulaw' && r === 8000) return { rate: r, encoding: 'ulaw' };
  return undefined;
}

/** An alignment as the emulator sends it (the keys of the official SDK's `Alignment`). */
export interface EmulatedAlignment {
  /** The characters of the chunk. */
  chars: string[];
  /** When each starts, in milliseconds from the chunk's start. */
  charStartTimesMs: number[];
  /** How long each lasts, in milliseconds. */
  charDurationsMs: number[];
}

/** An audio message of the emulator (`AudioOutput`, with `contextId` on the multi-context socket). */
export interface EmulatedAudio {
  /** The audio, base64. */
  audio: string;
  /** Which characters of the text the audio speaks. */
  alignment: EmulatedAlignment;
  /** The same, for the normalised text. */
  normalizedAlignment: EmulatedAlignment;
  /** The context (multi-context sockets only). */
  contextId?: string;
}

/** The final message: after end of input, or when a context ends. */
export interface EmulatedFinal {
  /** The generation is complete. */
  isFinal: true;
  /** The context (multi-context sockets only). */
  contextId?: string;
}

/** An error message, sent before a 1008 close. */
export interface EmulatedError {
  /** What went wrong. */
  message: string;
  /** The error's kind. */
  error: string;
  /** The close code that follows. */
  code: number;
}

function audioMessage(piece: TtsPiece, encoding: 'pcm' | 'ulaw'): EmulatedAudio {
  const bytes = encoding === 'ulaw' ? Buffer.from(encodeMulaw(piece.samples)) : Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength);
  const alignment: EmulatedAlignment = { chars: piece.chars, charStartTimesMs: piece.charStartTimesMs, charDurationsMs: piece.charsDurationsMs };
  return { audio: bytes.toString('base64'), normalizedAlignment: alignment, alignment };
}

/** The option names of {@link ElevenLabsEmulator}, for {@link checkEmulatorOptions}. */
const ELEVEN_LABS_EMULATOR_OPTIONS: Readonly<Record<keyof ElevenLabsEmulatorOptions, true>> = {
  synthesizer: true, timeToFirstAudioMs: true, realtimeFactor: true, chunkMs: true, apiKey: true,
  port: true, maxPayload: true, handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of ElevenLabs' `stream-input` text-to-speech WebSocket:
 * `xi-api-key` header or key in the first message, the `" "` init message with voice settings
 * and `chunk_length_schedule`, text chunks, `flush`, `auto_mode`, `""` as end of stream; base64
 * audio messages with alignment (`charDurationsMs`, as the official SDK's `Alignment`), `isFinal`,
 * the inactivity timeout and its 1008 close; and `multi-stream-input` (see `serveMulti`).
 */
export class ElevenLabsEmulator extends Emulator {
  private synth?: Synthesizer;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: ElevenLabsEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('ElevenLabsEmulator', opts, ELEVEN_LABS_EMULATOR_OPTIONS);
    this.synth = opts.synthesizer;
    this.guard = (req) => {
      const key = req.headers['xi-api-key'];
      if (key !== undefined && opts.apiKey !== undefined && key !== opts.apiKey) {
        return { status: 401, body: JSON.stringify({ detail: { status: 'invalid_api_key', message: 'Invalid API key' } }) };
      }
      return undefined;
    };
    this.ws(/^\/v1\/text-to-speech\/[^/]+\/stream-input$/, (ws, req, url) => this.serve(ws, req, url));
    this.ws(/^\/v1\/text-to-speech\/[^/]+\/multi-stream-input$/, (ws, req, url) => this.serveMulti(ws, req, url));
  }

  /** Contexts open now on multi-context sockets (for assertions): a context counts until its `isFinal`. */
  openContexts = 0;
  /** The most contexts that were open at once on one socket (the service allows 5). */
  mostContexts = 0;

  /**
   * The multi-context socket: every message carries `context_id`; a context's
   * first message initialises it; `flush` (or, with `auto_mode=true`, any text) speaks its text;
   * `close_context` drops the text not yet flushed while flushed text keeps generating under the
   * old `contextId`, then ends the context with `isFinal`; an idle context is closed the same way
   * after `inactivity_timeout`; `close_socket` closes every context, then the socket. At most 5
   * contexts at once, counted until their `isFinal`.
   */
  private serveMulti(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const q = url.searchParams;
    const format = parseOutputFormat(q.get('output_format') ?? 'pcm_24000');
    const fail = (error: string, message: string) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ message, error, code: 1008 } satisfies EmulatedError));
      ws.close(1008, error);
    };
    if (!format) return fail('invalid_output_format', 'unsupported output_format');
    const autoMode = q.get('auto_mode') === 'true';
    const inactivityMs = Math.min(180, Number(q.get('inactivity_timeout') ?? 20)) * 1000;
    let authed = req.headers['xi-api-key'] !== undefined;
    const contexts = new Map<string, { streamer: TtsStreamer; buffer: string; closing: boolean; idle?: ClockTimer }>();
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    let sent = 0;
    let closingSocket = false;
    const end = (id: string) => {
      const c = contexts.get(id);
      if (!c) return;
      this.cancel(c.idle);
      c.streamer.dispose();
      contexts.delete(id);
      this.openContexts--;
      // A stalled socket sends nothing more, not even the context's end.
      if (ws.readyState === ws.OPEN && !(fault.stall && sent >= fault.stall.afterMessages)) ws.send(JSON.stringify({ isFinal: true, contextId: id } satisfies EmulatedFinal));
      if (closingSocket && !contexts.size) ws.close(1000);
    };
    // Text not yet flushed is dropped; what was flushed is still spoken (under this contextId), then isFinal.
    const close = (id: string) => {
      const c = contexts.get(id);
      if (!c || c.closing) return;
      c.closing = true;
      c.buffer = '';
      this.cancel(c.idle);
      void c.streamer.whenIdle().then(() => end(id));
    };
    const touch = (id: string) => {
      const c = contexts.get(id);
      if (!c || c.closing) return;
      this.cancel(c.idle);
      c.idle = this.later(inactivityMs, () => close(id));
    };
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg) return fail('invalid_message', 'Messages must be JSON objects.');
      if (msg.close_socket === true) {
        closingSocket = true;
        if (!contexts.size) return void ws.close(1000);
        for (const id of [...contexts.keys()]) close(id);
        return;
      }
      const id = typeof msg.context_id === 'string' ? msg.context_id : 'default';
      let ctx = contexts.get(id);
      if (msg.close_context === true) return close(id);
      if (!ctx) {
        if (!authed) {
          const key = msg['xi-api-key'] ?? msg['xi_api_key'];
          if (typeof key !== 'string' || (this.opts.apiKey !== undefined && key !== this.opts.apiKey)) return fail('invalid_api_key', 'Invalid API key.');
          authed = true;
        }
        if (contexts.size >= 5) return fail('max_active_conversations', 'Maximum simultaneous contexts per WebSocket connection exceeded (5). Close contexts you no longer need.');
        const streamer = new TtsStreamer(this.synth!, format.rate, this.opts, (piece) => {
          if (ws.readyState !== ws.OPEN || (fault.stall && sent >= fault.stall.afterMessages)) return;
          const cut = fault.closeMidStream;
          if (cut && sent >= (cut.afterMessages ?? 1)) {
            fault.closeMidStream = undefined;
            return void ws.close(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
          }
          sent++;
          ws.send(JSON.stringify({ ...audioMessage(piece, format.encoding), contextId: id } satisfies EmulatedAudio));
        });
        ctx = { streamer, buffer: '', closing: false };
        contexts.set(id, ctx);
        this.openContexts++;
        this.mostContexts = Math.max(this.mostContexts, contexts.size);
      }
      if (ctx.closing) return;
      touch(id);
      if (typeof msg.text === 'string' && msg.text !== ' ') ctx.buffer += msg.text;
      if (msg.flush === true || (autoMode && ctx.buffer.trim()) || ctx.buffer.length >= 120) {
        ctx.streamer.speak(ctx.buffer);
        ctx.buffer = '';
      }
    });
    ws.on('close', () => {
      for (const c of contexts.values()) {
        this.cancel(c.idle);
        c.streamer.dispose();
      }
      this.openContexts -= contexts.size;
      contexts.clear();
    });
  }

  override async start(): Promise<string> {
    this.synth ??= await defaultSynthesizer();
    return super.start();
  }

  private serve(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const q = url.searchParams;
    const fail = (error: string, message: string) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ message, error, code: 1008 } satisfies EmulatedError));
      ws.close(1008, error);
    };
    const autoMode = q.get('auto_mode') === 'true';
    const format = parseOutputFormat(q.get('output_format') ?? 'pcm_24000');
    if (!format) return fail('invalid_output_format', `The emulator supports pcm_8000/16000/22050/24000/44100 and ulaw_8000, not ${q.get('output_format')}`);
    const inactivityMs = Math.min(180, Number(q.get('inactivity_timeout') ?? 20)) * 1000;
    let authed = req.headers['xi-api-key'] !== undefined;
    let initialized = false;
    let buffer = '';
    let schedule = [120, 160, 250, 290];
    let step = 0;
    let ended = false;
    let sent = 0;
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    let inactivity: ClockTimer | undefined;
    const touch = () => {
      this.cancel(inactivity);
      inactivity = this.later(inactivityMs, () =>
        fail('input_timeout_exceeded', `Have not received a new text input within the timeout of ${inactivityMs / 1000} seconds. Streaming input terminated. Please make sure to either feed the input in the timely manner, or to send the end of input text (empty string "") when done.`),
      );
    };
    const streamer = new TtsStreamer(this.synth!, format.rate, this.opts, (piece: TtsPiece) => {
      if (ws.readyState !== ws.OPEN) return;
      if (fault.stall && sent >= fault.stall.afterMessages) return;
      const cut = fault.closeMidStream;
      if (cut && sent >= (cut.afterMessages ?? 1)) {
        fault.closeMidStream = undefined;
        streamer.dispose();
        ws.close(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
        return;
      }
      if (this.faults.malformed) {
        this.faults.malformed = false;
        ws.send('{"audio": "AAAA", "isFinal": nul');
      }
      sent++;
      ws.send(JSON.stringify(audioMessage(piece, format.encoding) satisfies EmulatedAudio));
    });
    const speakUpTo = (flushAll: boolean) => {
      if (flushAll) {
        streamer.speak(buffer);
        buffer = '';
        step = 0;
        return;
      }
      while (buffer.length >= schedule[Math.min(step, schedule.length - 1)]!) {
        const limit = schedule[Math.min(step, schedule.length - 1)]!;
        const cut = buffer.lastIndexOf(' ', Math.max(limit, buffer.length - 1)) + 1 || buffer.length;
        streamer.speak(buffer.slice(0, cut));
        buffer = buffer.slice(cut);
        step++;
      }
    };
    touch();
    ws.on('message', (data, isBinary) => {
      if (ended) return;
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || (msg.text !== undefined && typeof msg.text !== 'string')) return fail('invalid_message', 'Messages must be JSON objects with a string "text" field.');
      touch();
      if (!initialized) {
        if (msg.text !== ' ') return fail('invalid_message', 'The first message must have "text": " " (a single space).');
        const key = msg['xi-api-key'] ?? msg['xi_api_key'] ?? msg.authorization;
        if (!authed) {
          if (typeof key !== 'string' || !key || (this.opts.apiKey !== undefined && key.replace(/^Bearer /, '') !== this.opts.apiKey)) {
            return fail('invalid_api_key', 'Invalid API key. Provide xi-api-key in the header or the first message.');
          }
          authed = true;
        }
        const cfg = msg.generation_config as { chunk_length_schedule?: unknown } | undefined;
        if (cfg?.chunk_length_schedule !== undefined) {
          const s = cfg.chunk_length_schedule;
          if (!Array.isArray(s) || !s.length || s.some((v) => typeof v !== 'number' || v < 50 || v > 500)) {
            return fail('invalid_message', 'chunk_length_schedule must be a list of numbers between 50 and 500.');
          }
          schedule = s as number[];
        }
        initialized = true;
        return;
      }
      if (msg.voice_settings !== undefined) return fail('invalid_message', 'voice_settings may only be sent in the first message.');
      const text = (msg.text as string | undefined) ?? '';
      if (text === '' && !msg.flush) {
        ended = true;
        speakUpTo(true);
        void streamer.whenIdle().then(() => {
          this.cancel(inactivity);
          if (ws.readyState !== ws.OPEN || (fault.stall && sent >= fault.stall.afterMessages)) return;
          ws.send(JSON.stringify({ isFinal: true } satisfies EmulatedFinal));
          ws.close(1000, '');
        });
        return;
      }
      buffer += text;
      if (msg.flush === true || (autoMode && buffer.trim())) speakUpTo(true);
      else if (msg.try_trigger_generation === true && buffer.length >= 50) speakUpTo(true);
      else speakUpTo(false);
    });
    ws.on('close', () => {
      this.cancel(inactivity);
      streamer.dispose();
    });
  }
}
