import { randomUUID } from 'node:crypto';
import type {
  AudioTranscription,
  ConversationItem,
  ConversationItemCreateEvent,
  ConversationItemDeleteEvent,
  ConversationItemTruncateEvent,
  InputAudioBufferAppendEvent,
  RealtimeAudioInputTurnDetection,
  RealtimeClientEvent,
  RealtimeServerEvent,
  RealtimeSessionCreateRequest,
  ResponseCancelEvent,
  ResponseCreateEvent,
  SessionUpdateEvent,
} from 'openai/resources/realtime/realtime';
import WebSocket from 'ws';
import { type AudioFrame, frameFromBytes, frameToBytes } from '../audio/frame';
import { Resampler } from '../audio/resample';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, TimeoutError, VoxlineError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames, inspectSafely } from '../provider';
import { OPENAI_REALTIME_OPTIONS } from '../option-names';
import type { ChatMessage } from '../llm/types';
import { Channel, sleep } from '../streams/channel';
import type { RealtimeConnectConfig, RealtimeConnection, RealtimeEvent, RealtimeModel, RealtimeUpdate, RealtimeUsage } from './types';

/** The sample rate of the Realtime API's `audio/pcm` format (the only rate it takes). */
export const REALTIME_RATE = 24000;

/** The largest server event taken, in bytes (as for the LLM's stream events): a bigger one is a `ProtocolError`. */
export const MAX_REALTIME_EVENT = 8 * 1024 * 1024;
/** Input audio waits (backpressure) while the socket's send buffer holds more than this. */
const MAX_BUFFERED = 256 * 1024;
/** Events received and not yet read by the connection's consumer before it fails. */
const MAX_QUEUED_EVENTS = 8192;
/** How long a closing socket may take to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 1000;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Options of {@link OpenAiRealtime}. */
export interface OpenAiRealtimeOptions {
  /** OpenAI API key (sent as `Authorization: Bearer`). */
  apiKey: string;
  /** Model (default `gpt-realtime`). */
  model?: string | undefined;
  /** API base (default `https://api.openai.com/v1`); the socket is `<baseURL>/realtime?model=…` over ws(s). */
  baseURL?: string | undefined;
  /** Voice (default `marin`). */
  voice?: string | undefined;
  /**
   * Turn detection: `server_vad` (default; silence-based), `semantic_vad` (a turn model decides)
   * or their full settings as the API takes them.
   */
  turnDetection?: 'server_vad' | 'semantic_vad' | RealtimeAudioInputTurnDetection | undefined;
  /** Transcription of the user's audio, for `user_turn`, history and hang-up phrases (default `gpt-4o-mini-transcribe`), or false. */
  transcription?: AudioTranscription | false | undefined;
  /** `audio` (default): the model speaks. `text`: it writes, and the session's `tts` speaks. */
  output?: 'audio' | 'text' | undefined;
  /** Input noise reduction (default none). */
  noiseReduction?: 'near_field' | 'far_field' | undefined;
  /** Other session fields, sent as they are (`max_output_tokens`, `tool_choice`, `truncation`, ...). */
  session?: Partial<Omit<RealtimeSessionCreateRequest, 'type' | 'audio' | 'instructions' | 'tools' | 'output_modalities'>> | undefined;
  /** Handshake and `session.updated` deadline (default 10 000 ms). */
  connectTimeoutMs?: number | undefined;
  /**
   * A response in progress that sends nothing for this long is over (default 15 000 ms, the
   * pipeline LLM's `stallTimeoutMs`): it is cancelled and ends with a `TimeoutError`.
   */
  stallTimeoutMs?: number | undefined;
  /** New sockets allowed after unexpected closes, the conversation restored from history (default 2). */
  maxReconnects?: number | undefined;
  /** Provider name in errors and metrics (default `openai`). */
  provider?: string | undefined;
}

/**
 * OpenAI's Realtime API (`gpt-realtime`) over its WebSocket: speech in, speech (or text) out,
 * with the server's turn detection and function calling. Give it to a `VoiceSession` as
 * `realtime` instead of `stt`, `llm` and `tts`.
 */
export class OpenAiRealtime implements RealtimeModel {
  readonly provider: string;
  readonly model: string;
  readonly sampleRate = REALTIME_RATE;
  readonly output: 'audio' | 'text';
  readonly silenceMs?: number;
  /** A response silent this long is cancelled and ends with a `TimeoutError` (see {@link OpenAiRealtimeOptions.stallTimeoutMs}). */
  readonly stallTimeoutMs: number;
  readonly #apiKey: string;
  readonly #options: Omit<OpenAiRealtimeOptions, 'apiKey'>;
  readonly #url: string;
  readonly #turnDetection: RealtimeAudioInputTurnDetection;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: OpenAiRealtimeOptions) {
    const { apiKey, ...rest } = options ?? ({} as OpenAiRealtimeOptions);
    this.#apiKey = checkApiKey('OpenAiRealtime', apiKey);
    this.#options = rest;
    this.provider = rest.provider ?? 'openai';
    this.model = rest.model ?? 'gpt-realtime';
    this.output = rest.output ?? 'audio';
    this.stallTimeoutMs = rest.stallTimeoutMs ?? 15_000;
    if (!(this.stallTimeoutMs > 0 && this.stallTimeoutMs <= 2 ** 31 - 1)) throw new ConfigError(`OpenAiRealtime stallTimeoutMs must be a positive number of milliseconds (at most 2147483647), got ${this.stallTimeoutMs}`);
    if (this.output !== 'audio' && this.output !== 'text') throw new ConfigError(`OpenAiRealtime output must be 'audio' or 'text'`);
    const td = rest.turnDetection ?? 'server_vad';
    this.#turnDetection = typeof td === 'string' ? { type: td } : td;
    if (this.#turnDetection.type !== 'server_vad' && this.#turnDetection.type !== 'semantic_vad') throw new ConfigError(`OpenAiRealtime turnDetection must be server_vad or semantic_vad`);
    // The documented default silence of server_vad is 500 ms; semantic_vad's wait varies.
    if (this.#turnDetection.type === 'server_vad') this.silenceMs = this.#turnDetection.silence_duration_ms ?? 500;
    const url = new URL(`${checkBaseURL('OpenAiRealtime', rest, 'https://api.openai.com/v1', 'ws')}/realtime`);
    checkOptionNames('OpenAiRealtime', options, OPENAI_REALTIME_OPTIONS);
    url.searchParams.set('model', this.model);
    this.#url = url.toString();
  }

  /** The session configuration sent in `session.update`. */
  sessionConfig(config: RealtimeConnectConfig): RealtimeSessionCreateRequest {
    const o = this.#options;
    return {
      ...o.session,
      type: 'realtime',
      output_modalities: [this.output],
      ...(config.instructions !== undefined ? { instructions: config.instructions } : {}),
      tools: functionTools(config.tools),
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: REALTIME_RATE },
          turn_detection: { ...this.#turnDetection, create_response: true, interrupt_response: config.interruptResponse ?? false },
          ...(o.transcription === false ? {} : { transcription: o.transcription ?? { model: 'gpt-4o-mini-transcribe' } }),
          ...(o.noiseReduction ? { noise_reduction: { type: o.noiseReduction } } : {}),
        },
        ...(this.output === 'audio' ? { output: { format: { type: 'audio/pcm', rate: REALTIME_RATE }, voice: config.voice ?? o.voice ?? 'marin' } } : {}),
      },
    };
  }

  /** Opens the socket, configures the session and resolves once the server confirmed it. */
  async connect(config: RealtimeConnectConfig, options: { signal?: AbortSignal | undefined } = {}): Promise<RealtimeConnection> {
    const conn = new OpenAiRealtimeConnection(this.provider, this.#url, this.#apiKey, this.sessionConfig(config), config, this.#options);
    // A refusal the provider calls temporary (429, 5xx, a dropped or slow handshake) is retried
    // with backoff, up to maxReconnects times, as a drop later in the call would be.
    for (let attempt = 0; ; attempt++) {
      try {
        await conn.open(options.signal);
        return conn;
      } catch (err) {
        const retryable = (err instanceof ProviderError && err.retryable) || err instanceof TimeoutError;
        if (!retryable || attempt >= (this.#options.maxReconnects ?? 2) || options.signal?.aborted) throw err;
        await sleep(Math.min(2000, 100 * 2 ** attempt), options.signal);
      }
    }
  }
}

inspectSafely(OpenAiRealtime);

/** Tools as Realtime function declarations. */
function functionTools(tools: RealtimeConnectConfig['tools']): NonNullable<RealtimeSessionCreateRequest['tools']> {
  return (tools ?? []).map((t) => ({ type: 'function' as const, name: t.name, description: t.description, parameters: t.parameters }));
}

/** The voxline history as Realtime conversation items (to restore a conversation on a new socket). */
export function historyItems(history: readonly ChatMessage[]): ConversationItem[] {
  const items: ConversationItem[] = [];
  for (const m of history) {
    const text = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p) => ('text' in p ? p.text : '')).join(' ') : '';
    if (m.role === 'user') items.push({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });
    else if (m.role === 'system' || m.role === 'developer') items.push({ type: 'message', role: 'system', content: [{ type: 'input_text', text }] });
    else if (m.role === 'assistant') {
      if (text) items.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] });
      for (const c of m.tool_calls ?? []) if (c.type === 'function') items.push({ type: 'function_call', call_id: c.id, name: c.function.name, arguments: c.function.arguments });
    } else if (m.role === 'tool') items.push({ type: 'function_call_output', call_id: m.tool_call_id, output: text });
  }
  return items;
}

/** A token count as sent, or 0 when it is missing or not a number. */
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

function usageOf(u: NonNullable<Extract<RealtimeServerEvent, { type: 'response.done' }>['response']['usage']>): RealtimeUsage {
  return {
    inputTokens: count(u.input_tokens),
    outputTokens: count(u.output_tokens),
    inputAudioTokens: count(u.input_token_details?.audio_tokens),
    outputAudioTokens: count(u.output_token_details?.audio_tokens),
    cachedTokens: count(u.input_token_details?.cached_tokens),
  };
}

/** One Realtime session over a WebSocket. Made by {@link OpenAiRealtime.connect}. */
export class OpenAiRealtimeConnection implements RealtimeConnection {
  private readonly out = new Channel<RealtimeEvent>(MAX_QUEUED_EVENTS);
  private ws?: WebSocket;
  private resampler?: Resampler;
  private sentMs = 0;
  /** Input audio position at which the current socket started (server positions restart at 0). */
  private offsetMs = 0;
  private reconnects = 0;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  /** Assistant audio received per item, ms (a truncation must not pass it). */
  private readonly receivedMs = new Map<string, number>();
  private iterated = false;
  private readonly stop = new AbortController();
  /** An odd byte of assistant audio, kept for the item's next delta. */
  private carry?: { itemId: string; byte: number };
  /** Responses in progress (created, not done), and the stall timer of the connection. */
  private readonly active = new Set<string>();
  private stallTimer?: NodeJS.Timeout;
  /** Responses reported over for a stall, whose late `response.done` is dropped. */
  private readonly stalled = new Set<string>();
  readonly #apiKey: string;

  /** Made by `OpenAiRealtime.connect()`; not meant to be called directly. */
  constructor(
    private readonly provider: string,
    private readonly url: string,
    apiKey: string,
    private readonly session: RealtimeSessionCreateRequest,
    private readonly config: RealtimeConnectConfig,
    private readonly options: Pick<OpenAiRealtimeOptions, 'connectTimeoutMs' | 'maxReconnects' | 'stallTimeoutMs'>,
  ) {
    this.#apiKey = apiKey;
  }

  get audioMs(): number {
    return this.sentMs;
  }

  /** Opens a socket and sends the session configuration (and the history, when restoring). */
  open(signal?: AbortSignal, restore = false): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortError('Realtime connection aborted'));
    const provider = this.provider;
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(this.url, { headers: { Authorization: `Bearer ${this.#apiKey}` }, handshakeTimeout: timeoutMs, maxPayload: MAX_REALTIME_EVENT });
      this.ws = ws;
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.stop.signal.removeEventListener('abort', onAbort);
        if (err) {
          ws.removeAllListeners();
          ws.on('error', () => {});
          ws.terminate();
          if (this.ws === ws) this.ws = undefined;
          reject(err);
        } else resolve();
      };
      const onAbort = () => settle(new AbortError('Realtime connection aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.stop.signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => settle(new TimeoutError(`${provider} realtime session was not ready within ${timeoutMs} ms`, { provider })), timeoutMs);
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8').slice(0, 500)));
        res.on('end', () => {
          let detail = res.statusMessage ?? '';
          try {
            detail = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? detail;
          } catch {
            // not JSON
          }
          if (status === 401 || status === 403) settle(new AuthError(`${provider} refused the credentials (HTTP ${status}): ${detail}`, { provider, status }));
          else settle(new ProviderError(`${provider} refused the realtime connection (HTTP ${status}): ${detail}`, { provider, status, retryable: status === 429 || status >= 500, code: status === 429 ? 'rate_limited' : 'connection_error' }));
        });
        res.on('error', () => settle(new ProviderError(`${provider} refused the realtime connection (HTTP ${status})`, { provider, status })));
      });
      ws.on('error', (err) => {
        // An event over the size limit: the socket closes (1009); the provider broke the protocol.
        const tooBig = (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
        const e = tooBig
          ? new ProtocolError(`${provider} sent a realtime event over ${MAX_REALTIME_EVENT >> 20} MiB`, { provider, cause: err })
          : new ProviderError(`${provider} realtime connection failed: ${err.message}`, { provider, retryable: true, code: 'connection_error', cause: err });
        if (!settled) return settle(e);
        if (tooBig && this.ws === ws) this.fail(e);
      });
      ws.on('open', () => {
        this.offsetMs = this.sentMs;
        this.send({ type: 'session.update', session: this.session } satisfies SessionUpdateEvent);
        if (restore) {
          for (const item of historyItems(this.config.history?.() ?? [])) this.send({ type: 'conversation.item.create', item } satisfies ConversationItemCreateEvent);
        }
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let ev: RealtimeServerEvent;
        try {
          ev = JSON.parse(String(data)) as RealtimeServerEvent;
          if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') throw new Error('no type');
        } catch {
          const err = new ProtocolError(`${provider} sent a realtime event that is not JSON: ${String(data).slice(0, 80)}`, { provider });
          if (!settled) return settle(err);
          // Bytes that are not an event at all are a damaged socket, not a protocol the client
          // misreads: report it, then replace the socket as after a drop (the conversation is
          // restored, within maxReconnects). A well-formed event with wrong fields stays fatal.
          if (this.ws !== ws) return;
          this.emit({ type: 'error', error: err });
          return void ws.terminate();
        }
        // A malformed event (a field missing or of the wrong type) is a ProtocolError on this
        // connection, never an exception thrown out of the socket's handler.
        try {
          if (!settled) {
            if (ev.type === 'session.updated') return settle();
            if (ev.type === 'error') return settle(this.errorOf(ev.error));
            return;
          }
          if (this.ws === ws) this.onEvent(ev);
        } catch (err) {
          const e = err instanceof VoxlineError ? err : new ProtocolError(`${provider} sent a malformed ${ev.type} event: ${(err as Error)?.message ?? String(err)}`, { provider, cause: err });
          if (!settled) return settle(e);
          this.fail(e);
        }
      });
      ws.on('close', (code, reason) => {
        if (!settled) return settle(new ProviderError(`${provider} closed the realtime socket before the session was ready: ${code} ${String(reason)}`.trim(), { provider, status: code, retryable: true, code: 'connection_error' }));
        this.onClose(ws, code, String(reason));
      });
    });
  }

  private errorOf(e: unknown): ProviderError {
    const error = this.obj({ type: 'error', error: e }, 'error');
    const message = this.str(error, 'message', 'error');
    const opt = (k: string) => (typeof error[k] === 'string' ? (error[k] as string) : undefined);
    const [type, code, param] = [opt('type'), opt('code'), opt('param')];
    const detail = [type, code, param && `param ${param}`].filter(Boolean).join(', ');
    const text = `${this.provider} realtime error: ${message} (${detail})`;
    if (code === 'invalid_api_key') return new AuthError(text, { provider: this.provider });
    return new ProviderError(text, { provider: this.provider, retryable: type === 'server_error' || code === 'rate_limit_exceeded', code: code === 'rate_limit_exceeded' ? 'rate_limited' : 'provider_error' });
  }

  private malformed(type: string, key: string, value: unknown): ProtocolError {
    const what = value === undefined ? 'missing' : value === null ? 'null' : `${typeof value === 'object' ? 'an' : 'a'} ${typeof value}`;
    return new ProtocolError(`${this.provider} sent a malformed ${type} event: ${key} is ${what}`, { provider: this.provider });
  }

  /** A string field of a server event (a missing or mistyped one is a ProtocolError). */
  private str(ev: Record<string, unknown>, key: string, type = String(ev.type)): string {
    const v = ev[key];
    if (typeof v !== 'string') throw this.malformed(type, key, v);
    return v;
  }

  private num(ev: Record<string, unknown>, key: string, type = String(ev.type)): number {
    const v = ev[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.malformed(type, key, v);
    return v;
  }

  private obj(ev: Record<string, unknown>, key: string, type = String(ev.type)): Record<string, unknown> {
    const v = ev[key];
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw this.malformed(type, key, v);
    return v as Record<string, unknown>;
  }

  /** Assistant audio of a delta as a frame; an odd last byte is kept for the item's next delta. */
  private audioOf(ev: Record<string, unknown>, itemId: string): AudioFrame | undefined {
    const delta = this.str(ev, 'delta');
    if (!BASE64.test(delta) || delta.length % 4 === 1) throw new ProtocolError(`${this.provider} sent audio that is not base64`, { provider: this.provider });
    let bytes = Buffer.from(delta, 'base64');
    const carried = this.carry?.itemId === itemId ? this.carry.byte : undefined;
    this.carry = undefined;
    if (carried !== undefined) bytes = Buffer.concat([Buffer.of(carried), bytes]);
    if (bytes.length % 2) {
      this.carry = { itemId, byte: bytes[bytes.length - 1]! };
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    return bytes.length ? frameFromBytes(bytes, REALTIME_RATE) : undefined;
  }

  /** A response in progress that sent nothing for `stallTimeoutMs`: cancelled, and over with a TimeoutError. */
  private onStall(): void {
    const ms = this.options.stallTimeoutMs ?? 15_000;
    for (const id of this.active) {
      this.stalled.add(id);
      if (this.stalled.size > 16) this.stalled.delete(this.stalled.values().next().value!);
      this.send({ type: 'response.cancel', response_id: id } satisfies ResponseCancelEvent);
      this.emit({ type: 'response_done', responseId: id, status: 'failed', reason: 'stalled', error: new TimeoutError(`${this.provider} realtime response ${id} sent nothing for ${ms} ms`, { provider: this.provider, retryable: true }) });
    }
    this.active.clear();
  }

  /** Queues an event for the consumer; one that fell too far behind fails the connection. */
  private emit(e: RealtimeEvent): void {
    if (!this.out.offer(e) && !this.out.isClosed) this.fail(new ProviderError(`${this.provider} realtime events were not read: over ${MAX_QUEUED_EVENTS} waiting`, { provider: this.provider }));
  }

  private onEvent(raw: RealtimeServerEvent): void {
    const ev = raw as unknown as Record<string, unknown>;
    const emit = (e: RealtimeEvent) => this.emit(e);
    if (this.active.size) this.stallTimer?.refresh();
    switch (raw.type) {
      case 'input_audio_buffer.speech_started':
        return emit({ type: 'speech_started', audioStartMs: this.num(ev, 'audio_start_ms') + this.offsetMs, itemId: this.str(ev, 'item_id') });
      case 'input_audio_buffer.speech_stopped':
        return emit({ type: 'speech_stopped', audioEndMs: this.num(ev, 'audio_end_ms') + this.offsetMs, itemId: this.str(ev, 'item_id') });
      case 'conversation.item.input_audio_transcription.completed':
        return emit({ type: 'user_transcript', itemId: this.str(ev, 'item_id'), text: this.str(ev, 'transcript') });
      case 'response.created': {
        const r = this.obj(ev, 'response');
        const id = r.id === undefined ? '' : this.str(r, 'id', 'response.created');
        this.active.add(id);
        const ms = this.options.stallTimeoutMs ?? 15_000;
        if (this.stallTimer) this.stallTimer.refresh();
        else this.stallTimer = setTimeout(() => {
          this.stallTimer = undefined;
          this.onStall();
        }, ms);
        return emit({ type: 'response_started', responseId: id });
      }
      case 'response.output_audio.delta': {
        const [responseId, itemId] = [this.str(ev, 'response_id'), this.str(ev, 'item_id')];
        const frame = this.audioOf(ev, itemId);
        if (!frame) return;
        this.receivedMs.set(itemId, (this.receivedMs.get(itemId) ?? 0) + (frame.samples.length * 1000) / REALTIME_RATE);
        return emit({ type: 'audio', responseId, itemId, frame });
      }
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta':
        return emit({ type: 'text', responseId: this.str(ev, 'response_id'), itemId: this.str(ev, 'item_id'), delta: this.str(ev, 'delta') });
      case 'response.function_call_arguments.done': {
        const call = { responseId: this.str(ev, 'response_id'), id: this.str(ev, 'call_id'), name: this.str(ev, 'name') };
        // Arguments that are not a string fail that tool step only: the reply ends without the
        // call, and the call goes on.
        if (typeof ev.arguments !== 'string') return emit({ type: 'error', error: this.malformed(raw.type, 'arguments', ev.arguments) });
        return emit({ type: 'tool_call', responseId: call.responseId, call: { id: call.id, name: call.name, arguments: ev.arguments } });
      }
      case 'response.done': {
        const r = this.obj(ev, 'response');
        const id = r.id === undefined ? '' : this.str(r, 'id', 'response.done');
        this.active.delete(id);
        if (!this.active.size) {
          clearTimeout(this.stallTimer);
          this.stallTimer = undefined;
        }
        // Its end was already reported when it stalled.
        if (this.stalled.delete(id)) return;
        const status = r.status === undefined ? 'completed' : this.str(r, 'status', 'response.done');
        const details = (r.status_details && typeof r.status_details === 'object' ? r.status_details : {}) as { reason?: unknown; error?: { type?: unknown; code?: unknown } };
        const failure = status === 'failed' && details.error && typeof details.error === 'object' ? details.error : undefined;
        const usage = r.usage && typeof r.usage === 'object' ? usageOf(r.usage as Parameters<typeof usageOf>[0]) : undefined;
        return emit({
          type: 'response_done',
          responseId: id,
          status,
          ...(typeof details.reason === 'string' && details.reason ? { reason: details.reason } : {}),
          ...(usage ? { usage } : {}),
          ...(status === 'failed' ? { error: new ProviderError(`${this.provider} realtime response failed: ${String(failure?.type ?? 'error')} ${String(failure?.code ?? '')}`.trim(), { provider: this.provider, retryable: true }) } : {}),
        });
      }
      case 'conversation.item.truncated':
        return emit({ type: 'truncated', itemId: this.str(ev, 'item_id'), audioEndMs: this.num(ev, 'audio_end_ms') });
      case 'error':
        return emit({ type: 'error', error: this.errorOf(ev.error) });
      default:
        return;
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.closed || this.ws !== ws) return;
    this.ws = undefined;
    // Responses in progress went with the socket (the consumer hears of it by `reconnected`).
    this.endResponses();
    const err = new ProviderError(`${this.provider} realtime socket closed unexpectedly: ${code} ${reason}`.trim(), { provider: this.provider, status: code, retryable: true, code: 'connection_error' });
    if (code === 1008) return this.fail(err);
    this.reconnect(err);
  }

  /** Opens a new socket after a drop and restores the conversation, or fails when out of tries. */
  private reconnect(err: unknown): void {
    if (this.closed) return;
    if (this.reconnects >= (this.options.maxReconnects ?? 2)) return this.fail(err);
    const attempt = ++this.reconnects;
    this.retryTimer = setTimeout(() => {
      this.open(undefined, true).then(
        () => {
          this.receivedMs.clear();
          this.emit({ type: 'reconnected', attempt });
        },
        (e: unknown) => (e instanceof ProviderError && e.retryable ? this.reconnect(e) : this.fail(e)),
      );
    }, Math.min(2000, 100 * 2 ** (attempt - 1)));
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.shutdown();
    this.out.fail(err);
  }

  private endResponses(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.active.clear();
    this.carry = undefined;
  }

  private shutdown(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.endResponses();
    this.stop.abort();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) {
        // A server that never answers the close (or is still sending a long frame) does not
        // keep the socket, and what it buffered, past the grace.
        ws.close(1000);
        const cut = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
        ws.once('close', () => clearTimeout(cut));
      } else ws.terminate();
    }
  }

  private send(ev: RealtimeClientEvent): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(ev));
  }

  /** Backpressure: resolves once the socket's send buffer is back under 256 KiB (or the connection is over). */
  private async writable(): Promise<void> {
    while (!this.closed && (this.ws?.bufferedAmount ?? 0) > MAX_BUFFERED) await new Promise((r) => setTimeout(r, 10));
  }

  appendAudio(frame: AudioFrame): void | Promise<void> {
    let samples = frame.samples;
    if (frame.sampleRate !== REALTIME_RATE) {
      if (this.resampler?.inRate !== frame.sampleRate) this.resampler = new Resampler(frame.sampleRate, REALTIME_RATE);
      samples = this.resampler.process(samples);
    }
    if (!samples.length) return;
    this.sentMs += (samples.length * 1000) / REALTIME_RATE;
    this.send({ type: 'input_audio_buffer.append', audio: frameToBytes({ samples, sampleRate: REALTIME_RATE }).toString('base64') } satisfies InputAudioBufferAppendEvent);
    if ((this.ws?.bufferedAmount ?? 0) > MAX_BUFFERED) return this.writable();
  }

  /**
   * A handoff: `session.update` with the new instructions and tools, and the voice only while the
   * model has sent no audio on this socket (OpenAI refuses it after, `cannot_update_voice`). A
   * reconnection restores the new configuration.
   */
  update(config: RealtimeUpdate): {
    /** The voice changed (false when none was asked, or the model has already spoken). */
    voice: boolean;
  } {
    const s = this.session;
    s.instructions = config.instructions;
    s.tools = functionTools(config.tools);
    const output = s.audio?.output;
    const voice = config.voice !== undefined && output !== undefined && (output.voice === config.voice || this.receivedMs.size === 0);
    if (voice && output) output.voice = config.voice;
    this.send({ type: 'session.update', session: { type: 'realtime', instructions: s.instructions, tools: s.tools, ...(voice && output?.voice !== undefined && this.receivedMs.size === 0 ? { audio: { output: { voice: output.voice } } } : {}) } } satisfies SessionUpdateEvent);
    return { voice };
  }

  respond(options: { instructions?: string | undefined; tools?: boolean | undefined } = {}): void {
    const response = { ...(options.instructions ? { instructions: options.instructions } : {}), ...(options.tools === false ? { tool_choice: 'none' as const } : {}) };
    this.send({ type: 'response.create', ...(Object.keys(response).length ? { response } : {}) } satisfies ResponseCreateEvent);
  }

  cancel(responseId?: string): void {
    this.send({ type: 'response.cancel', ...(responseId ? { response_id: responseId } : {}) } satisfies ResponseCancelEvent);
  }

  truncate(itemId: string, audioEndMs: number): void {
    // The server refuses a position past the audio it sent.
    const max = this.receivedMs.get(itemId);
    if (max === undefined) return;
    const at = Math.max(0, Math.min(Math.floor(audioEndMs), Math.floor(max)));
    this.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: at } satisfies ConversationItemTruncateEvent);
  }

  sendToolResult(callId: string, output: string): void {
    this.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callId, output } } satisfies ConversationItemCreateEvent);
  }

  replaceText(itemId: string, text: string): void {
    this.send({ type: 'conversation.item.delete', item_id: itemId } satisfies ConversationItemDeleteEvent);
    if (text) this.send({ type: 'conversation.item.create', item: { id: `item_vx${randomUUID().replace(/-/g, '').slice(0, 16)}`, type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] } } satisfies ConversationItemCreateEvent);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.shutdown();
    // Events not yet read (audio among them) are dropped, not held until someone reads them.
    this.out.drain();
    this.out.close();
  }

  /** The connection's events, until it is closed (or fails with a typed error). One consumer only. */
  [Symbol.asyncIterator](): AsyncIterator<RealtimeEvent> {
    if (this.iterated) throw new Error('A realtime connection can only be iterated once');
    this.iterated = true;
    return this.out[Symbol.asyncIterator]();
  }
}
