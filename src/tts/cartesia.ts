import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, type VoxlineError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames, checkRange } from '../provider';
import { CARTESIA_TTS_OPTIONS } from '../option-names';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { DEFAULT_STALL_MS, StallTimer } from './stall';
import { TtsStream, type Alignment, type SynthesizeOptions, type TtsFrame } from './types';
import { openSocket } from './ws-pool';

/** Sample rates Cartesia's raw output formats offer. */
export type CartesiaSampleRate = 8000 | 16000 | 22050 | 24000 | 44100 | 48000;

/** Cartesia's raw output format (`output_format` of a generation request). */
export interface CartesiaOutputFormat {
  container: 'raw';
  encoding: 'pcm_s16le' | 'pcm_f32le' | 'pcm_mulaw' | 'pcm_alaw';
  sample_rate: CartesiaSampleRate;
}

/** Sonic-3 generation settings (`generation_config`). */
export interface CartesiaGenerationConfig {
  /** 0.6 to 1.5 (default 1). */
  speed?: number | undefined;
  /** 0.5 to 2 (default 1). */
  volume?: number | undefined;
  /** e.g. `neutral`, `calm`, `content`, `sad`. */
  emotion?: string | undefined;
}

/**
 * A generation request on Cartesia's TTS WebSocket: one input of a context. Every input of a
 * context repeats the same fields; only `transcript` and `continue` change.
 */
export interface CartesiaGenerationRequest {
  model_id: string;
  transcript: string;
  voice: { mode: 'id'; id: string };
  output_format: CartesiaOutputFormat;
  context_id: string;
  continue?: boolean;
  flush?: boolean;
  add_timestamps?: boolean;
  use_normalized_timestamps?: boolean;
  language?: string;
  generation_config?: CartesiaGenerationConfig;
  max_buffer_delay_ms?: number;
}

/** Cancels a context: no more audio is generated for it. */
export interface CartesiaCancelRequest {
  context_id: string;
  cancel: true;
}

/** Word timings of a `timestamps` message, in seconds from the start of the context's audio. */
export interface CartesiaWordTimestamps {
  words: string[];
  start: number[];
  end: number[];
}

/** Audio of a context: base64 `data` in the requested output format. */
export interface CartesiaChunk {
  type: 'chunk';
  context_id: string;
  data: string;
  done: boolean;
  status_code: number;
  step_time: number;
  flush_id?: number | null;
}

/** Word timestamps of a context (`add_timestamps: true`). */
export interface CartesiaTimestamps {
  type: 'timestamps';
  context_id: string;
  done: boolean;
  status_code: number;
  flush_id?: number | null;
  word_timestamps?: CartesiaWordTimestamps | null;
}

/** Everything before a flush has been generated. */
export interface CartesiaFlushDone {
  type: 'flush_done';
  context_id: string;
  done: boolean;
  flush_done: boolean;
  flush_id: number;
  status_code: number;
}

/** The context is complete: the last message of a reply. */
export interface CartesiaDone {
  type: 'done';
  context_id: string;
  done: true;
  status_code: number;
}

/** An error, of one context (`context_id`) or of the whole connection. */
export interface CartesiaErrorMessage {
  type: 'error';
  title: string;
  message: string;
  status_code: number;
  context_id?: string;
  done?: boolean;
  error_code?: string;
  doc_url?: string;
  request_id?: string;
}

/** A message the server sends on Cartesia's TTS WebSocket. */
export type CartesiaServerMessage = CartesiaChunk | CartesiaTimestamps | CartesiaFlushDone | CartesiaDone | CartesiaErrorMessage;

/** Options of {@link CartesiaTts}. */
export interface CartesiaTtsOptions {
  /** Cartesia API key (sent as `Authorization: Bearer`, as the official SDK does). */
  apiKey: string;
  /** Voice id. */
  voiceId: string;
  /** Model id (default `sonic-3`). */
  model?: string | undefined;
  /** `pcm_s16le` (default) or `pcm_mulaw`, G.711 mu-law for phone calls. */
  encoding?: 'pcm_s16le' | 'pcm_mulaw' | undefined;
  /** Output sample rate (default 24 000; 8 000 with `pcm_mulaw`). */
  sampleRate?: CartesiaSampleRate | undefined;
  /** Language of the transcript, e.g. `en`. */
  language?: string | undefined;
  /** Speed, volume and emotion (sonic-3). */
  generationConfig?: CartesiaGenerationConfig | undefined;
  /** How long Cartesia may buffer text before generating, 0 to 5000 ms (default: Cartesia's). */
  maxBufferDelayMs?: number | undefined;
  /**
   * Ask for word timestamps (default true): they become the frames' alignment, so the session
   * knows which words the user heard, and a dropped socket resends exactly the unspoken text.
   */
  addTimestamps?: boolean | undefined;
  /** `Cartesia-Version` header (default `2026-08-14`, the official SDK's). */
  cartesiaVersion?: string | undefined;
  /** Base URL (default `wss://api.cartesia.ai`); `/tts/websocket` is appended. */
  baseURL?: string | undefined;
  /** Longest wait for audio that is owed (default 10 000 ms); then the socket is replaced, as after a drop. */
  stallTimeoutMs?: number | undefined;
  /** Reconnections per reply after an unexpected close or a stall; the unspoken text is re-sent (default 2). */
  maxReconnects?: number | undefined;
  /**
   * Cartesia expires a context 1 s after its last audio. Text that comes after a longer pause
   * (a slow tool call) opens a new context for the rest of the reply (default 600 ms).
   */
  contextIdleMs?: number | undefined;
}

/** What a reply's route receives: a server message, or a fault of the socket. */
type Route = (msg: CartesiaServerMessage | { fault: VoxlineError } | { closed: { code: number; reason: string } }) => void;

/**
 * Cartesia Sonic streaming TTS over its WebSocket (`/tts/websocket`). One socket serves the whole
 * call and is opened ahead of need; each reply is a context whose text goes in as continuations
 * (`continue: true`, then an empty `continue: false`), so prosody holds across sentences. Barge-in
 * cancels the context and drops its late audio. Word timestamps arrive in their own messages and
 * are yielded as frames without samples that carry the alignment. A socket that drops mid-reply is
 * replaced and the unspoken text is sent again, and so is a stalled one (a `TimeoutError` once
 * `maxReconnects` are spent); a reply that ends early cancels its context at once; an
 * `error` message becomes a `ProviderError` whose `providerCode` is Cartesia's `error_code`.
 */
export class CartesiaTts extends TtsStream {
  readonly provider = 'cartesia';
  readonly sampleRate: number;
  /** Model id. */
  readonly model: string;
  /** Voice id. */
  readonly voice: string;
  /** Each context may speak in another voice on the same socket (`voice` of `synthesize()`). */
  override readonly voicePerSynthesis = true;
  readonly #apiKey: string;
  readonly #options: Omit<CartesiaTtsOptions, 'apiKey'>;
  private readonly url: string;
  private readonly fields: Omit<CartesiaGenerationRequest, 'transcript' | 'context_id' | 'continue'>;
  private socketPromise?: Promise<WebSocket>;
  /** The socket `socketPromise` resolved to. */
  private live?: WebSocket;
  private readonly routes = new Map<string, Route>();
  private closed = false;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: CartesiaTtsOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as CartesiaTtsOptions);
    this.#apiKey = checkApiKey('CartesiaTts', apiKey);
    this.#options = rest;
    if (!options.voiceId) throw new ConfigError('CartesiaTts needs a voiceId');
    const encoding = options.encoding ?? 'pcm_s16le';
    if (encoding !== 'pcm_s16le' && encoding !== 'pcm_mulaw') throw new ConfigError(`CartesiaTts: unsupported encoding ${String(encoding)}`);
    const rate = options.sampleRate ?? (encoding === 'pcm_mulaw' ? 8000 : 24000);
    if (![8000, 16000, 22050, 24000, 44100, 48000].includes(rate)) throw new ConfigError(`CartesiaTts: unsupported sampleRate ${rate}`);
    if (options.maxBufferDelayMs !== undefined && !(options.maxBufferDelayMs >= 0 && options.maxBufferDelayMs <= 5000)) throw new ConfigError('CartesiaTts: maxBufferDelayMs must be between 0 and 5000');
    this.sampleRate = rate;
    this.model = options.model ?? 'sonic-3';
    this.voice = options.voiceId;
    const timestamps = options.addTimestamps ?? true;
    this.fields = {
      model_id: this.model,
      voice: { mode: 'id', id: this.voice },
      output_format: { container: 'raw', encoding, sample_rate: rate },
      ...(timestamps ? { add_timestamps: true, use_normalized_timestamps: false } : {}),
      ...(options.language ? { language: options.language } : {}),
      ...(options.generationConfig ? { generation_config: options.generationConfig } : {}),
      ...(options.maxBufferDelayMs !== undefined ? { max_buffer_delay_ms: options.maxBufferDelayMs } : {}),
    };
    this.url = `${checkBaseURL('CartesiaTts', options, 'wss://api.cartesia.ai', 'ws')}/tts/websocket`;
    checkOptionNames('CartesiaTts', options, CARTESIA_TTS_OPTIONS);
    checkRange('CartesiaTts', 'generationConfig.speed', options.generationConfig?.speed, 0.6, 1.5);
    checkRange('CartesiaTts', 'generationConfig.volume', options.generationConfig?.volume, 0.5, 2);
  }

  override warmup(): Promise<void> {
    this.closed = false;
    return this.socket().then(() => undefined, () => undefined);
  }

  override async close(): Promise<void> {
    this.closed = true;
    const p = this.socketPromise;
    this.socketPromise = undefined;
    if (!p) return;
    try {
      (await p).close(1000);
    } catch {
      // never opened
    }
  }

  /** The call's one socket; messages go to the reply whose context they carry. */
  private socket(): Promise<WebSocket> {
    if (this.socketPromise) return this.socketPromise;
    const p = openSocket(this.url, { Authorization: `Bearer ${this.#apiKey}`, 'Cartesia-Version': this.#options.cartesiaVersion ?? '2026-08-14' }, this.provider).then((ws) => {
      const openedAt = performance.now();
      if (this.socketPromise === p) this.live = ws;
      ws.on('message', (data) => {
        let msg: CartesiaServerMessage | undefined;
        try {
          msg = JSON.parse(String(data)) as CartesiaServerMessage;
        } catch {
          // handled below
        }
        const deliver = (route: Route | undefined, m: Parameters<Route>[0]) => {
          try {
            route?.(m);
          } catch (err) {
            route?.({ fault: new ProtocolError(`${this.provider} sent a message voxline could not read`, { provider: this.provider, cause: err }) });
          }
        };
        if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') {
          const fault = new ProtocolError(`${this.provider} sent a message that is not a JSON object with a type`, { provider: this.provider });
          for (const route of [...this.routes.values()]) deliver(route, { fault });
        } else if (typeof msg.context_id === 'string') deliver(this.routes.get(msg.context_id), msg); // audio of a cancelled context is dropped
        else for (const route of [...this.routes.values()]) deliver(route, msg);
      });
      ws.on('close', (code, reason) => {
        if (this.socketPromise === p) this.socketPromise = undefined;
        if (this.live === ws) this.live = undefined;
        for (const route of [...this.routes.values()]) route({ closed: { code, reason: String(reason) } });
        // Cartesia closes idle sockets after 5 minutes: open the next one before it is needed.
        if (!this.closed && !this.routes.size && performance.now() - openedAt > 1000) void this.warmup();
      });
      return ws;
    });
    this.socketPromise = p;
    p.catch(() => {
      if (this.socketPromise === p) this.socketPromise = undefined;
    });
    return p;
  }

  /**
   * Drops a socket that stopped answering: the next reply opens a fresh one, and the replies still
   * on it see it close and go on elsewhere with their unspoken text.
   */
  private retire(ws: WebSocket): void {
    if (this.live === ws) {
      this.live = undefined;
      this.socketPromise = undefined;
    }
    ws.terminate();
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    this.closed = false;
    const provider = this.provider;
    const timestamps = this.fields.add_timestamps === true;
    const mulaw = this.fields.output_format.encoding === 'pcm_mulaw';
    const idleMs = this.#options.contextIdleMs ?? 600;
    const out = new Channel<TtsFrame>(Infinity);
    let ws = await this.socket();
    let ctx = '';
    let base = 0; // ms of audio before the current context's
    let audioMs = 0;
    let pending: Alignment | undefined; // timestamps that came before any audio (absolute ms)
    let carry: Buffer | undefined;
    let sentText = '';
    let cursor = 0; // characters of sentText the word timestamps have covered
    let textDone = false;
    let finished = false;
    let reconnects = 0;
    let lastAudioAt = 0;
    let audioSinceInput = false;
    let expirable = false; // input went to a context that had said everything and gone quiet
    let used = false; // inputs went to the current context: it is cancelled if the reply ends without its `done`
    const stall = new StallTimer(this.#options.stallTimeoutMs ?? DEFAULT_STALL_MS, provider, (err) => {
      // A socket that owes audio and sends nothing is not used again, by this reply or the next.
      this.retire(ws);
      reconnect(() => err);
    });
    const owed = () => sentText !== '' && (textDone || (timestamps ? sentText.slice(cursor).trim() !== '' : !audioSinceInput));
    /** Ends the reply. One that ends early (`err`) cancels its context at once, unless Cartesia ended it (`cancel` false). */
    const finish = (err?: unknown, cancel = err !== undefined) => {
      if (finished) return;
      finished = true;
      stall.clear();
      this.routes.delete(ctx);
      if (cancel && used) send({ context_id: ctx, cancel: true });
      if (err) out.fail(err);
      else out.close();
    };
    const arm = () => {
      stall.clear();
      if (!finished && owed()) stall.arm();
    };
    const send = (msg: CartesiaGenerationRequest | CartesiaCancelRequest) => {
      if (ws.readyState === 1) ws.send(JSON.stringify(msg));
    };
    const input = (transcript: string, cont: boolean) => {
      send({ ...this.fields, ...(options.voice ? { voice: { mode: 'id' as const, id: options.voice } } : {}), transcript, context_id: ctx, continue: cont });
      used = true;
      audioSinceInput = false;
      arm();
    };
    /** After a drop or a stall: a new socket, a new context, and the text not yet spoken; `fault` when no reconnection is left. */
    const reconnect = (fault: () => unknown) => {
      if (reconnects >= (this.#options.maxReconnects ?? 2)) return finish(fault());
      reconnects++;
      stall.clear();
      this.routes.delete(ctx);
      // A new socket, a new context, and the text not yet spoken.
      this.socket().then(
        (next) => {
          if (finished) return;
          ws = next;
          begin();
          resend();
        },
        (err) => finish(err),
      );
    };
    const onMessage: Route = (msg) => {
      if (finished) return;
      if ('closed' in msg) {
        const { code, reason } = msg.closed;
        return reconnect(() => new ProviderError(`${provider} closed the socket: ${code} ${reason}`.trim(), { provider, status: code, retryable: true, code: 'connection_error' }));
      }
      if ('fault' in msg) return finish(msg.fault);
      switch (msg.type) {
        case 'chunk': {
          if (typeof msg.data !== 'string') return finish(new ProtocolError(`${provider} sent a chunk without base64 data`, { provider }));
          let bytes = Buffer.from(msg.data, 'base64');
          let samples: Int16Array;
          if (mulaw) samples = decodeMulaw(bytes);
          else {
            if (carry) bytes = Buffer.concat([carry, bytes]);
            carry = bytes.length % 2 ? Buffer.from(bytes.subarray(bytes.length - 1)) : undefined;
            samples = new Int16Array(Uint8Array.from(bytes.subarray(0, bytes.length - (bytes.length % 2))).buffer);
          }
          const frame: TtsFrame = { samples, sampleRate: this.sampleRate };
          if (pending) frame.alignment = relative(pending, audioMs);
          pending = undefined;
          audioMs += (samples.length * 1000) / this.sampleRate;
          lastAudioAt = performance.now();
          audioSinceInput = true;
          expirable = false;
          out.offer(frame);
          break;
        }
        case 'timestamps': {
          const w = msg.word_timestamps;
          if (!w || !Array.isArray(w.words) || !Array.isArray(w.start) || !Array.isArray(w.end)) break;
          const { alignment, next } = wordsToAlignment(sentText, cursor, w, base);
          cursor = next;
          if (!alignment.chars.length) break;
          if (audioMs === 0) pending = pending ? concat(pending, alignment) : alignment;
          else out.offer({ samples: new Int16Array(0), sampleRate: this.sampleRate, alignment: relative(alignment, audioMs) });
          break;
        }
        case 'done':
          return finish();
        case 'error':
          if (expirable) {
            // Most likely the context expired during the pause: once, go on in a new one.
            expirable = false;
            rollover();
            return resend();
          }
          return finish(cartesiaError(msg, provider), false);
        default:
          break; // flush_done, and types voxline does not ask for (phoneme_timestamps)
      }
      arm();
    };
    const begin = () => {
      ctx = randomUUID();
      used = false;
      base = audioMs;
      carry = undefined;
      this.routes.set(ctx, onMessage);
    };
    /** Sends the text not yet spoken to the (new) current context. */
    const resend = () => {
      const rest = sentText.slice(cursor);
      if (rest.trim()) input(rest, !textDone);
      else if (textDone) finish();
    };
    /** Leaves the current context for a new one on the same socket. */
    const rollover = () => {
      send({ context_id: ctx, cancel: true });
      this.routes.delete(ctx);
      begin();
    };
    begin();
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) {
          // Transcripts are concatenated verbatim: each chunk ends with a space.
          const t = chunk.trim() ? chunk.replace(/(\S)$/, '$1 ') : '';
          if (finished) break;
          if (!t) continue;
          // Everything sent was spoken: after a long pause the context may have expired, so go on in a new one.
          const quiet = audioSinceInput && !owed();
          if (quiet && performance.now() - lastAudioAt > idleMs) rollover();
          else if (quiet) expirable = true;
          sentText += t;
          input(t, true);
        }
        textDone = true;
        if (!sentText) return finish();
        input('', false);
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) finish(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      // On barge-in (or a consumer that stops reading): the context is cancelled, its late audio dropped.
      finish(new AbortError('Synthesis aborted'));
      stop.abort();
      stop.dispose();
      await pump;
    }
  }
}

/** The typed error for an `error` message: `AuthError` for 401/403, else a `ProviderError`. */
function cartesiaError(msg: CartesiaErrorMessage, provider: string): ProviderError {
  const status = Number(msg.status_code) || undefined;
  const legacy = (msg as { error?: unknown }).error; // API versions before 2025: `error` instead of title/message
  const text = `${provider} error${msg.error_code ? ` ${msg.error_code}` : ''}: ${[msg.title, msg.message, legacy].filter((s) => typeof s === 'string' && s).join(': ')}`;
  if (status === 401 || status === 403) return new AuthError(text, { provider, status });
  return new ProviderError(text, {
    provider,
    status,
    providerCode: msg.error_code,
    retryable: status === 429 || (status !== undefined && status >= 500),
    code: status === 429 ? 'rate_limited' : undefined,
  });
}

const WORD = /[\p{L}\p{N}]/u;

/**
 * Maps Cartesia word timestamps onto the text that was sent, from character `from` on, the way
 * ElevenLabs' character alignment reads: each word takes the characters of the text up to the
 * next word (its punctuation and the spaces after it included), so the alignment's characters
 * are the text's, in order, and `next` is where the next word starts. A word not found near
 * `from` (a normalised number, say) takes the next whitespace-separated token. Times become
 * milliseconds from the reply's first audio (`baseMs`: the audio before this context's).
 */
export function wordsToAlignment(text: string, from: number, w: CartesiaWordTimestamps, baseMs = 0): { alignment: Alignment; next: number } {
  const alignment: Alignment = { chars: [], startMs: [], durationsMs: [] };
  let cursor = from;
  for (let i = 0; i < w.words.length && cursor < text.length; i++) {
    const word = String(w.words[i] ?? '');
    let at = -1; // where the word starts in the text
    let end = -1; // where its punctuation ends
    const m = word ? new RegExp(`(?<![\\p{L}\\p{N}])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'iu').exec(text.slice(cursor, cursor + word.length + 40)) : null;
    if (m) {
      at = cursor + m.index;
      end = at + word.length;
      while (end < text.length && !/\s/.test(text[end]!) && !WORD.test(text[end]!)) end++;
    } else {
      const token = /^(\s*)(\S+)/.exec(text.slice(cursor));
      if (!token) break;
      at = cursor + token[1]!.length;
      end = at + token[2]!.length;
    }
    let next = end;
    while (next < text.length && /\s/.test(text[next]!)) next++;
    const start = baseMs + Number(w.start[i] ?? 0) * 1000;
    const stop = Math.max(start, baseMs + Number(w.end[i] ?? w.start[i] ?? 0) * 1000);
    const core = [...text.slice(at, end)];
    const step = (stop - start) / Math.max(1, core.length);
    const put = (c: string, t: number, d: number) => {
      alignment.chars.push(c);
      alignment.startMs.push(t);
      alignment.durationsMs.push(d);
    };
    for (const c of text.slice(cursor, at)) put(c, start, 0);
    core.forEach((c, j) => put(c, start + j * step, step));
    for (const c of text.slice(end, next)) put(c, stop, 0);
    cursor = next;
  }
  return { alignment, next: cursor };
}

function relative(a: Alignment, atMs: number): Alignment {
  return { chars: a.chars, startMs: a.startMs.map((t) => t - atMs), durationsMs: a.durationsMs };
}

function concat(a: Alignment, b: Alignment): Alignment {
  return { chars: [...a.chars, ...b.chars], startMs: [...a.startMs, ...b.startMs], durationsMs: [...a.durationsMs, ...b.durationsMs] };
}
