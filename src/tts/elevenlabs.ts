import type WebSocket from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { Pcm16Decoder } from '../audio/pcm16';
import { AbortError, AuthError, ConfigError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames, checkRange } from '../provider';
import { ELEVENLABS_TTS_OPTIONS } from '../option-names';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { TextInput } from './text-input';
import { DEFAULT_STALL_MS, StallTimer } from './stall';
import { TtsStream, type Alignment, type SynthesizeOptions, type TtsFrame } from './types';
import { WarmSocket, openSocket } from './ws-pool';

/** ElevenLabs voice settings (first message only). */
export interface VoiceSettings {
  /** 0 to 1: lower is more expressive, higher more even. */
  stability?: number | undefined;
  /** 0 to 1: how closely the voice keeps to the original speaker. */
  similarity_boost?: number | undefined;
  /** 0 to 1: style exaggeration (costs latency above 0). */
  style?: number | undefined;
  /** Boosts the likeness to the original speaker (costs latency). */
  use_speaker_boost?: boolean | undefined;
  /** 0.7 to 1.2. */
  speed?: number | undefined;
}

/** Options of {@link ElevenLabsTts}. */
export interface ElevenLabsTtsOptions {
  /** ElevenLabs API key (sent as the `xi-api-key` header). */
  apiKey: string;
  /** Voice id. */
  voiceId: string;
  /** Model id (default `eleven_flash_v2_5`). `eleven_v3` needs `multiContext: false`. */
  model?: string | undefined;
  /** `pcm_8000|16000|22050|24000|44100` or `ulaw_8000` (default `pcm_24000`). */
  outputFormat?: 'pcm_8000' | 'pcm_16000' | 'pcm_22050' | 'pcm_24000' | 'pcm_44100' | 'ulaw_8000' | undefined;
  /** Voice settings; only what is set here is sent, the rest keeps the voice's saved settings. */
  voiceSettings?: VoiceSettings | undefined;
  /** Characters buffered before each generation when `autoMode` is off (ElevenLabs' default `[120,160,250,290]`). */
  chunkLengthSchedule?: number[] | undefined;
  /**
   * `auto_mode=true` (default): ElevenLabs speaks each chunk as it arrives, for whole sentences or
   * clauses (what `sentences()` yields). Set false when feeding raw tokens, so that the chunk
   * schedule decides. Either way the last text of a reply is sent with `flush: true`; with it, on
   * the multi-context socket, every whole chunk carries `flush: true`, so no flush message follows.
   */
  autoMode?: boolean | undefined;
  /**
   * `sync_alignment=true` (default): every audio message carries its alignment, which voxline
   * uses for the text heard before a barge-in and to resend only the unspoken text after a drop.
   */
  syncAlignment?: boolean | undefined;
  /** Seconds the provider keeps an idle socket or context (default 180, the maximum); voxline sends a keep-alive at half of it. */
  inactivityTimeoutSec?: number | undefined;
  /** ISO 639-1 language code (`language_code`), for the models that take one. */
  language?: string | undefined;
  /** Reconnections per synthesis after an unexpected close or a stall; unspoken text is re-sent (default 2). */
  maxReconnects?: number | undefined;
  /**
   * Base URL: scheme, host and path up to the API version (default `wss://api.elevenlabs.io/v1`;
   * `https:` is taken as `wss:`). `/text-to-speech/<voice>/...` is appended.
   */
  baseURL?: string | undefined;
  /** Longest wait for audio that is owed: after text was sent, or between audio messages (default 10 000 ms); then the socket is replaced, as after a drop. */
  stallTimeoutMs?: number | undefined;
  /**
   * The multi-context socket (`multi-stream-input`, default true): one socket for the whole call,
   * a new context per reply, `close_context` on barge-in, stale audio of old contexts dropped.
   * `false` uses `stream-input`: a socket per reply, the next one warmed ahead of need.
   */
  multiContext?: boolean | undefined;
}

/** An alignment as ElevenLabs sends it; older spellings of the keys are read too. @internal */
export interface ElevenLabsAlignmentWire {
  chars?: string[] | null;
  charStartTimesMs?: number[] | null;
  charDurationsMs?: number[] | null;
  /** Older spec spelling of `charDurationsMs`. */
  charsDurationsMs?: number[] | null;
  /** Oldest spec spelling of `charStartTimesMs`. */
  char_start_times_ms?: number[] | null;
  /** Oldest spec spelling of `charDurationsMs`. */
  chars_durations_ms?: number[] | null;
}

/** A server message of `stream-input` or `multi-stream-input`, as {@link ElevenLabsTts} reads it. @internal */
export interface ElevenLabsServerWire {
  audio?: string | null;
  alignment?: ElevenLabsAlignmentWire | null;
  normalizedAlignment?: ElevenLabsAlignmentWire | null;
  isFinal?: boolean | null;
  /** The examples' spelling of `isFinal`. */
  is_final?: boolean | null;
  contextId?: string | null;
  /** The AudioOutputMulti schema's spelling of `contextId`. */
  context_id?: string | null;
  error?: string;
  message?: string;
  code?: number;
}

type Message = ElevenLabsServerWire & { closed?: number };

/** At most this many contexts may be open on one multi-context socket. */
const MAX_CONTEXTS = 5;
/** The formats the socket can send, as `outputFormat` types them (checked at construction for JavaScript callers). */
const OUTPUT_FORMATS: readonly string[] = ['pcm_8000', 'pcm_16000', 'pcm_22050', 'pcm_24000', 'pcm_44100', 'ulaw_8000'] satisfies NonNullable<ElevenLabsTtsOptions['outputFormat']>[];

/**
 * ElevenLabs streaming TTS. By default one `multi-stream-input` socket serves the whole call, with
 * a context per reply: the reply's last text goes with `flush`, then `close_context`, and the reply
 * ends on that context's `isFinal`. Barge-in closes the context and drops its late audio; a context
 * counts toward the limit of 5 until its `isFinal`, and a full socket hands the next reply to a
 * fresh one. With `multiContext: false`, `stream-input`: a socket per reply, the next one opened
 * ahead of need so a turn never pays a handshake. Either way a socket that drops mid-reply is
 * replaced and the text not yet spoken is sent again, and so is a stalled one (a `TimeoutError` once
 * `maxReconnects` are spent): a stalled socket is never used again.
 */
export class ElevenLabsTts extends TtsStream {
  readonly provider = 'elevenlabs';
  readonly sampleRate: number;
  private readonly ulaw: boolean;
  private readonly multiContext: boolean;
  private readonly pool: WarmSocket;
  private readonly url: string;
  private readonly keepAliveMs: number;
  private current?: Promise<MultiSocket>;
  private readonly sockets = new Set<MultiSocket>();
  private closing = false;
  private contextSeq = 0;

  readonly #apiKey: string;
  readonly #options: Omit<ElevenLabsTtsOptions, 'apiKey'>;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: ElevenLabsTtsOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as ElevenLabsTtsOptions);
    this.#apiKey = checkApiKey('ElevenLabsTts', apiKey);
    this.#options = rest;
    if (!options.voiceId) throw new ConfigError('ElevenLabsTts needs a voiceId');
    const format = options.outputFormat ?? 'pcm_24000';
    if (!OUTPUT_FORMATS.includes(format)) throw new ConfigError(`ElevenLabsTts: unsupported outputFormat ${format} (supported: ${OUTPUT_FORMATS.join(', ')})`);
    const [kind, rate] = format.split('_');
    const model = options.model ?? 'eleven_flash_v2_5';
    this.multiContext = options.multiContext ?? true;
    if (this.multiContext && model.startsWith('eleven_v3')) throw new ConfigError(`ElevenLabsTts: ${model} does not support the multi-context socket; set multiContext: false`);
    this.ulaw = kind === 'ulaw';
    this.sampleRate = Number(rate);
    const inactivity = options.inactivityTimeoutSec ?? 180;
    this.keepAliveMs = Math.max(100, (inactivity * 1000) / 2);
    const q = new URLSearchParams({ model_id: model, output_format: format, inactivity_timeout: String(inactivity) });
    if (options.autoMode ?? true) q.set('auto_mode', 'true');
    if (options.syncAlignment ?? true) q.set('sync_alignment', 'true');
    if (options.language) q.set('language_code', options.language);
    this.url = `${checkBaseURL('ElevenLabsTts', options, 'wss://api.elevenlabs.io/v1', 'ws')}/text-to-speech/${encodeURIComponent(options.voiceId)}/${this.multiContext ? 'multi-stream-input' : 'stream-input'}?${q}`;
    checkOptionNames('ElevenLabsTts', options, ELEVENLABS_TTS_OPTIONS);
    const vs = options.voiceSettings;
    for (const k of ['stability', 'similarity_boost', 'style'] as const) checkRange('ElevenLabsTts', `voiceSettings.${k}`, vs?.[k], 0, 1);
    checkRange('ElevenLabsTts', 'voiceSettings.speed', vs?.speed, 0.7, 1.2);
    // A space keeps an idle stream-input socket from its inactivity timeout.
    this.pool = new WarmSocket(() => this.open(), '{"text":""}', { message: '{"text":" "}', everyMs: this.keepAliveMs });
  }

  /**
   * The same settings in another voice: a new stream with its own socket (ElevenLabs fixes the
   * voice in the socket's URL; a context of a multi-context socket cannot change it).
   */
  override withVoice(voiceId: string): ElevenLabsTts {
    return new ElevenLabsTts({ ...this.#options, apiKey: this.#apiKey, voiceId });
  }

  /** The first message of a socket or context: only the settings the user gave. */
  private initMessage(contextId?: string): Record<string, unknown> {
    const { voiceSettings, chunkLengthSchedule } = this.#options;
    return {
      text: ' ',
      ...(contextId !== undefined ? { context_id: contextId } : {}),
      ...(voiceSettings && Object.keys(voiceSettings).length ? { voice_settings: voiceSettings } : {}),
      ...(chunkLengthSchedule ? { generation_config: { chunk_length_schedule: chunkLengthSchedule } } : {}),
    };
  }

  private async open(): Promise<WebSocket> {
    const ws = await openSocket(this.url, { 'xi-api-key': this.#apiKey }, this.provider);
    ws.send(JSON.stringify(this.initMessage()));
    return ws;
  }

  override warmup(): Promise<void> {
    return this.multiContext ? this.socket().then(() => undefined, () => undefined) : this.pool.warm();
  }

  override async close(): Promise<void> {
    this.closing = true;
    if (!this.multiContext) return this.pool.close();
    const p = this.current;
    this.current = undefined;
    await p?.catch(() => undefined);
    for (const m of this.sockets) shut(m);
  }

  /** The socket new replies go to, opened if needed. */
  private socket(): Promise<MultiSocket> {
    if (this.current) return this.current;
    const p = openSocket(this.url, { 'xi-api-key': this.#apiKey }, this.provider).then((ws) => {
      const m: MultiSocket = { ws, open: new Set(), routes: new Map(), retired: false };
      const openedAt = performance.now();
      this.sockets.add(m);
      ws.on('message', (data) => {
        const msg = parse(data);
        const id = msg.contextId ?? msg.context_id;
        if (typeof id !== 'string') {
          for (const route of [...m.routes.values()]) route(msg);
          return;
        }
        m.routes.get(id)?.(msg); // audio of a closed context has no route: dropped
        if (msg.isFinal === true || msg.is_final === true) {
          m.open.delete(id);
          m.routes.delete(id);
          if (m.retired && !m.open.size) shut(m);
        }
      });
      ws.on('close', (code, reason) => {
        this.sockets.delete(m);
        if (this.current === p) this.current = undefined;
        m.open.clear();
        const routes = [...m.routes.values()];
        m.routes.clear();
        for (const route of routes) route({ closed: code, message: String(reason) });
        // Keep a socket warm: the provider closes one that sat idle for its inactivity timeout.
        if (!this.closing && !m.retired && !routes.length && !this.current && performance.now() - openedAt > 1000) void this.socket().catch(() => undefined);
      });
      return m;
    });
    this.current = p;
    p.catch(() => {
      if (this.current === p) this.current = undefined;
    });
    return p;
  }

  /** A socket with room for one more context, `id` counted in it. */
  private async acquire(id: string): Promise<MultiSocket> {
    for (;;) {
      const p = this.socket();
      const m = await p;
      if (m.ws.readyState !== 1 || m.retired) {
        if (this.current === p) this.current = undefined;
        continue;
      }
      if (m.open.size < MAX_CONTEXTS) {
        m.open.add(id);
        return m;
      }
      // Full of contexts that are still finishing: it closes once they have; the next reply starts on a fresh socket.
      m.retired = true;
      if (this.current === p) this.current = undefined;
    }
  }

  private async *synthesizeMulti(text: AsyncIterable<string>, signal?: AbortSignal): AsyncGenerator<TtsFrame> {
    const id = `ctx-${++this.contextSeq}`;
    let m = await this.acquire(id);
    const send = (msg: Record<string, unknown>) => {
      if (m.ws.readyState === 1) m.ws.send(JSON.stringify(msg));
      r.touch();
    };
    const r = this.newReply(() => send({ text: '', context_id: id }));
    let closeSent = false;
    const closeContext = () => {
      if (closeSent) return;
      closeSent = true;
      send({ context_id: id, close_context: true });
    };
    let reconnects = 0;
    /** After a drop or a stall: a new socket, the same context, and the text not yet spoken; `fault` when no reconnection is left. */
    const recover = (fault: () => unknown) => {
      if (r.finished) return;
      if (reconnects++ >= (this.#options.maxReconnects ?? 2)) return r.fail(fault());
      this.acquire(id).then(
        (next) => {
          if (r.finished) return void next.open.delete(id);
          m = next;
          m.routes.set(id, route);
          send(this.initMessage(id));
          const rest = r.unspoken();
          if (rest.trim()) send({ text: rest, context_id: id, flush: true });
          closeSent = false;
          if (r.textDone) closeContext();
          r.arm();
        },
        (err) => r.fail(err),
      );
    };
    // A socket that owes audio and sends nothing is not used again, by this reply or the next: the
    // replies still on it see it close and go on elsewhere.
    r.onStall = (err) => {
      const dead = m;
      dead.routes.delete(id);
      dead.open.delete(id);
      dead.retired = true;
      dead.ws.terminate();
      recover(() => err);
    };
    const route = (msg: Message) => {
      if (msg.closed !== undefined) return recover(() => closedError(this.provider, msg));
      if (msg.isFinal === true || msg.is_final === true) {
        if (r.textDone) return r.close();
        return r.fail(new ProviderError(`${this.provider} closed the context before the reply was complete`, { provider: this.provider, retryable: true }));
      }
      r.handle(msg);
    };
    m.routes.set(id, route);
    send(this.initMessage(id));
    const input = new TextInput();
    const stop = linkedAbort(signal);
    const autoMode = this.#options.autoMode ?? true;
    const pump = (async () => {
      try {
        let flushed = false; // everything sent so far went with flush: true
        for await (const chunk of abortable(text, stop.signal)) {
          const t = input.push(chunk);
          if (!t || r.finished) continue;
          // A whole chunk (a sentence or clause from sentences()) carries flush: true itself, as
          // ElevenLabs' guide advises at the end of sentences; under auto_mode it is generated at
          // once anyway, and the last one needs no flush message of its own. Raw tokens do not.
          flushed = autoMode && !input.raw;
          send(flushed ? { text: t, context_id: id, flush: true } : { text: t, context_id: id });
          r.noteSent(t);
        }
        const rest = input.end();
        if (rest) send({ text: rest, context_id: id, flush: true });
        else if (!flushed) send({ context_id: id, flush: true });
        if (rest) r.noteSent(rest);
        r.textDone = true;
        closeContext(); // the reply ends on this context's isFinal
        r.arm();
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) r.fail(err);
      }
    })();
    try {
      yield* abortable(r.out, signal);
    } finally {
      r.dispose();
      // On barge-in: no more audio for this context; what is still on its way is dropped. The
      // context stays counted until its isFinal.
      m.routes.delete(id);
      if (m.open.has(id)) closeContext();
      stop.abort();
      stop.dispose();
      await pump;
    }
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    if (this.multiContext) return yield* this.synthesizeMulti(text, signal);
    let ws: WebSocket | undefined;
    const send = (msg: Record<string, unknown>) => {
      if (ws?.readyState === 1) ws.send(JSON.stringify(msg));
      r.touch();
    };
    const r = this.newReply(() => send({ text: ' ' }));
    let reconnects = 0;
    const attach = (sock: WebSocket) => {
      ws = sock;
      sock.on('message', (data) => {
        const msg = parse(data);
        r.handle(msg);
        if (msg.isFinal === true || msg.is_final === true) r.close();
      });
      sock.on('close', (code, reason) => {
        if (ws === sock) recover(() => closedError(this.provider, { closed: code, message: String(reason) }));
      });
    };
    /** After a drop or a stall: a new socket and the text the provider had not spoken yet; `fault` when no reconnection is left. */
    const recover = (fault: () => unknown) => {
      ws = undefined;
      if (r.finished) return;
      if (reconnects++ >= (this.#options.maxReconnects ?? 2)) return r.fail(fault());
      this.open().then(
        (next) => {
          if (r.finished) return void next.close(1000);
          attach(next);
          const rest = r.unspoken();
          if (rest.trim()) send({ text: rest, flush: true });
          if (r.textDone) send({ text: '' });
          r.arm();
        },
        (err) => r.fail(err),
      );
    };
    r.onStall = (err) => {
      const dead = ws;
      ws = undefined; // its close is not a drop to recover from twice
      dead?.terminate();
      recover(() => err);
    };
    attach(await this.pool.take());
    const input = new TextInput();
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) {
          if (r.finished) break;
          const t = input.push(chunk);
          if (!t) continue;
          send({ text: t });
          r.noteSent(t);
        }
        const rest = input.end();
        if (rest) {
          send({ text: rest, flush: true });
          r.noteSent(rest);
        }
        r.textDone = true;
        send({ text: '' }); // end of input: the rest is spoken, then isFinal
        r.arm();
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) r.fail(err);
      }
    })();
    try {
      yield* abortable(r.out, signal);
    } finally {
      r.dispose();
      stop.abort();
      stop.dispose();
      const sock = ws;
      ws = undefined;
      if (sock && sock.readyState <= 1) sock.close(1000);
      await pump.catch(() => {});
    }
  }

  /** A new reply's settings; `keepAlive` is sent when no text went out for half the inactivity timeout. */
  private newReply(keepAlive: () => void): Reply {
    const pcm = new Pcm16Decoder();
    return new Reply({
      provider: this.provider,
      sampleRate: this.sampleRate,
      stallMs: this.#options.stallTimeoutMs ?? DEFAULT_STALL_MS,
      keepAliveMs: this.keepAliveMs,
      decode: this.ulaw ? decodeMulaw : (audio) => pcm.push(audio),
      keepAlive,
    });
  }
}

interface ReplyConfig {
  provider: string;
  sampleRate: number;
  stallMs: number;
  keepAliveMs: number;
  decode: (audio: Buffer) => Int16Array;
  keepAlive: () => void;
}

interface MultiSocket {
  ws: WebSocket;
  /** Contexts opened and not yet ended by their `isFinal`. */
  open: Set<string>;
  /** The replies reading each context. */
  routes: Map<string, (msg: Message) => void>;
  /** Full: takes no new context and closes once its contexts have ended. */
  retired: boolean;
}

function shut(m: MultiSocket): void {
  if (m.ws.readyState === 1) m.ws.send('{"close_socket":true}');
  m.ws.close(1000);
}

function parse(data: unknown): Message {
  try {
    const v = JSON.parse(String(data)) as unknown;
    if (v && typeof v === 'object') return v as Message;
  } catch {
    // below
  }
  return { error: 'protocol', message: 'a message that is not JSON' };
}

function closedError(provider: string, msg: Message): ProviderError {
  return new ProviderError(`${provider} closed the socket: ${String(msg.closed)} ${String(msg.message ?? '')}`.trim(), { provider, status: msg.closed, retryable: true, code: 'connection_error' });
}

/** The state of one reply: its audio, the text sent and how much of it alignment covered, its timers. */
class Reply {
  readonly out = new Channel<TtsFrame>(Infinity);
  textDone = false;
  finished = false;
  private sent = '';
  private cursor = 0;
  private aligned = false;
  private readonly stall: StallTimer;
  private idle?: NodeJS.Timeout;
  private readonly provider: string;
  /** What a stall does (default: fails the reply). */
  onStall: (err: Error) => void = (err) => this.fail(err);

  constructor(private readonly cfg: ReplyConfig) {
    this.provider = cfg.provider;
    this.stall = new StallTimer(cfg.stallMs, cfg.provider, (err) => this.onStall(err));
    this.touch();
  }

  /** Text went out: audio is owed. */
  noteSent(text: string): void {
    this.sent += text;
    this.arm();
  }

  /** The text sent that no alignment has covered yet. */
  unspoken(): string {
    return this.sent.slice(this.cursor);
  }

  /** Starts (or restarts) the stall timer while audio is owed. */
  arm(): void {
    this.stall.clear();
    if (!this.finished) this.stall.arm();
  }

  /** Something was sent: the keep-alive waits for the next pause. */
  touch(): void {
    clearTimeout(this.idle);
    if (this.finished) return;
    this.idle = setTimeout(() => {
      if (!this.textDone) this.cfg.keepAlive();
    }, this.cfg.keepAliveMs);
  }

  handle(msg: Message): void {
    if (this.finished) return;
    if (typeof msg.error === 'string' || (typeof msg.message === 'string' && msg.audio == null && !msg.isFinal)) {
      const t = `${this.provider} error ${String(msg.error ?? '')}: ${String(msg.message ?? '')}`;
      return this.fail(/api_key|auth/i.test(String(msg.error)) ? new AuthError(t, { provider: this.provider }) : new ProviderError(t, { provider: this.provider, retryable: msg.error !== 'protocol' }));
    }
    if (typeof msg.audio !== 'string' || !msg.audio) return;
    const samples = this.cfg.decode(Buffer.from(msg.audio, 'base64'));
    const alignment = parseAlignment(msg.alignment ?? msg.normalizedAlignment);
    if (alignment) this.advance(alignment.chars.join(''));
    // Audio is still owed until the end of input is answered, or while sent text has not been aligned.
    if (this.textDone || (this.aligned && this.cursor < this.sent.trimEnd().length)) this.arm();
    else this.stall.clear();
    if (samples.length || alignment) this.out.offer({ samples, sampleRate: this.cfg.sampleRate, alignment });
  }

  /** Moves the cursor past the text an alignment covers (its chars may carry spaces at either end). */
  private advance(chars: string): void {
    this.aligned = true;
    const core = chars.trim();
    if (!core) return;
    const at = this.sent.indexOf(core, this.cursor);
    this.cursor = at >= 0 && at - this.cursor <= 2 ? at + core.length : Math.min(this.sent.length, this.cursor + chars.length);
    while (this.cursor < this.sent.length && /\s/.test(this.sent[this.cursor]!)) this.cursor++;
  }

  close(): void {
    if (this.finished) return;
    this.dispose();
    this.out.close();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.dispose();
    this.out.fail(err);
  }

  dispose(): void {
    this.finished = true;
    this.stall.clear();
    clearTimeout(this.idle);
  }
}

/** Reads an alignment in any of the spellings ElevenLabs has used. @internal */
export function parseAlignment(a: ElevenLabsAlignmentWire | null | undefined): Alignment | undefined {
  if (!a || typeof a !== 'object') return undefined;
  const chars = a.chars;
  const start = a.charStartTimesMs ?? a.char_start_times_ms;
  const dur = a.charDurationsMs ?? a.charsDurationsMs ?? a.chars_durations_ms;
  if (!Array.isArray(chars) || !Array.isArray(start) || !Array.isArray(dur)) return undefined;
  return { chars: chars.map(String), startMs: start.map(Number), durationsMs: dur.map(Number) };
}
