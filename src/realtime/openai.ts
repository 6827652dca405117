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
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, TimeoutError } from '../errors';
import { checkApiKey, checkBaseURL, inspectSafely } from '../provider';
import type { ChatMessage } from '../llm/types';
import { Channel } from '../streams/channel';
import type { RealtimeConnectConfig, RealtimeConnection, RealtimeEvent, RealtimeModel, RealtimeUpdate, RealtimeUsage } from './types';

/** The sample rate of the Realtime API's `audio/pcm` format (the only rate it takes). */
export const REALTIME_RATE = 24000;

/** Options of {@link OpenAiRealtime}. */
export interface OpenAiRealtimeOptions {
  /** OpenAI API key (sent as `Authorization: Bearer`). */
  apiKey: string;
  /** Model (default `gpt-realtime`). */
  model?: string;
  /** API base (default `https://api.openai.com/v1`); the socket is `<baseURL>/realtime?model=…` over ws(s). */
  baseURL?: string;
  /** Voice (default `marin`). */
  voice?: string;
  /**
   * Turn detection: `server_vad` (default; silence-based), `semantic_vad` (a turn model decides)
   * or their full settings as the API takes them.
   */
  turnDetection?: 'server_vad' | 'semantic_vad' | RealtimeAudioInputTurnDetection;
  /** Transcription of the user's audio, for `user_turn`, history and hang-up phrases (default `gpt-4o-mini-transcribe`), or false. */
  transcription?: AudioTranscription | false;
  /** `audio` (default): the model speaks. `text`: it writes, and the session's `tts` speaks. */
  output?: 'audio' | 'text';
  /** Input noise reduction (default none). */
  noiseReduction?: 'near_field' | 'far_field';
  /** Other session fields, sent as they are (`max_output_tokens`, `tool_choice`, `truncation`, ...). */
  session?: Partial<Omit<RealtimeSessionCreateRequest, 'type' | 'audio' | 'instructions' | 'tools' | 'output_modalities'>>;
  /** Handshake and `session.updated` deadline (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** New sockets allowed after unexpected closes, the conversation restored from history (default 2). */
  maxReconnects?: number;
  /** Provider name in errors and metrics (default `openai`). */
  provider?: string;
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
    if (this.output !== 'audio' && this.output !== 'text') throw new ConfigError(`OpenAiRealtime output must be 'audio' or 'text'`);
    const td = rest.turnDetection ?? 'server_vad';
    this.#turnDetection = typeof td === 'string' ? { type: td } : td;
    if (this.#turnDetection.type !== 'server_vad' && this.#turnDetection.type !== 'semantic_vad') throw new ConfigError(`OpenAiRealtime turnDetection must be server_vad or semantic_vad`);
    // The documented default silence of server_vad is 500 ms; semantic_vad's wait varies.
    if (this.#turnDetection.type === 'server_vad') this.silenceMs = this.#turnDetection.silence_duration_ms ?? 500;
    const url = new URL(`${checkBaseURL('OpenAiRealtime', rest, 'https://api.openai.com/v1', 'ws')}/realtime`);
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
  async connect(config: RealtimeConnectConfig, options: { signal?: AbortSignal } = {}): Promise<RealtimeConnection> {
    const conn = new OpenAiRealtimeConnection(this.provider, this.#url, this.#apiKey, this.sessionConfig(config), config, this.#options);
    await conn.open(options.signal);
    return conn;
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

function usageOf(u: NonNullable<Extract<RealtimeServerEvent, { type: 'response.done' }>['response']['usage']>): RealtimeUsage {
  return {
    inputTokens: u.input_tokens ?? 0,
    outputTokens: u.output_tokens ?? 0,
    inputAudioTokens: u.input_token_details?.audio_tokens ?? 0,
    outputAudioTokens: u.output_token_details?.audio_tokens ?? 0,
    cachedTokens: u.input_token_details?.cached_tokens ?? 0,
  };
}

/** One Realtime session over a WebSocket. Made by {@link OpenAiRealtime.connect}. */
export class OpenAiRealtimeConnection implements RealtimeConnection {
  private readonly out = new Channel<RealtimeEvent>(8192);
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
  readonly #apiKey: string;

  /** Made by `OpenAiRealtime.connect()`; not meant to be called directly. */
  constructor(
    private readonly provider: string,
    private readonly url: string,
    apiKey: string,
    private readonly session: RealtimeSessionCreateRequest,
    private readonly config: RealtimeConnectConfig,
    private readonly options: Pick<OpenAiRealtimeOptions, 'connectTimeoutMs' | 'maxReconnects'>,
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
      const ws = new WebSocket(this.url, { headers: { Authorization: `Bearer ${this.#apiKey}` }, handshakeTimeout: timeoutMs, maxPayload: 16 << 20 });
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
      ws.on('error', (err) => settle(new ProviderError(`${provider} realtime connection failed: ${err.message}`, { provider, retryable: true, code: 'connection_error', cause: err })));
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
          return this.fail(err);
        }
        if (!settled) {
          if (ev.type === 'session.updated') return settle();
          if (ev.type === 'error') return settle(this.errorOf(ev.error));
          return;
        }
        this.onEvent(ev);
      });
      ws.on('close', (code, reason) => {
        if (!settled) return settle(new ProviderError(`${provider} closed the realtime socket before the session was ready: ${code} ${String(reason)}`.trim(), { provider, status: code, retryable: true, code: 'connection_error' }));
        this.onClose(ws, code, String(reason));
      });
    });
  }

  private errorOf(e: { message: string; type: string; code?: string | null; param?: string | null }): ProviderError {
    const detail = [e.type, e.code, e.param && `param ${e.param}`].filter(Boolean).join(', ');
    const message = `${this.provider} realtime error: ${e.message} (${detail})`;
    if (e.code === 'invalid_api_key') return new AuthError(message, { provider: this.provider });
    return new ProviderError(message, { provider: this.provider, retryable: e.type === 'server_error' || e.code === 'rate_limit_exceeded', code: e.code === 'rate_limit_exceeded' ? 'rate_limited' : 'provider_error' });
  }

  private onEvent(ev: RealtimeServerEvent): void {
    const emit = (e: RealtimeEvent) => this.out.offer(e);
    switch (ev.type) {
      case 'input_audio_buffer.speech_started':
        return void emit({ type: 'speech_started', audioStartMs: ev.audio_start_ms + this.offsetMs, itemId: ev.item_id });
      case 'input_audio_buffer.speech_stopped':
        return void emit({ type: 'speech_stopped', audioEndMs: ev.audio_end_ms + this.offsetMs, itemId: ev.item_id });
      case 'conversation.item.input_audio_transcription.completed':
        return void emit({ type: 'user_transcript', itemId: ev.item_id, text: ev.transcript });
      case 'response.created':
        return void emit({ type: 'response_started', responseId: ev.response.id ?? '' });
      case 'response.output_audio.delta': {
        const frame = frameFromBytes(Buffer.from(ev.delta, 'base64'), REALTIME_RATE);
        this.receivedMs.set(ev.item_id, (this.receivedMs.get(ev.item_id) ?? 0) + (frame.samples.length * 1000) / REALTIME_RATE);
        return void emit({ type: 'audio', responseId: ev.response_id, itemId: ev.item_id, frame });
      }
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta':
        return void emit({ type: 'text', responseId: ev.response_id, itemId: ev.item_id, delta: ev.delta });
      case 'response.function_call_arguments.done':
        return void emit({ type: 'tool_call', responseId: ev.response_id, call: { id: ev.call_id, name: ev.name, arguments: ev.arguments } });
      case 'response.done': {
        const r = ev.response;
        const failure = r.status === 'failed' ? r.status_details?.error : undefined;
        return void emit({
          type: 'response_done',
          responseId: r.id ?? '',
          status: r.status ?? 'completed',
          ...(r.status_details?.reason ? { reason: r.status_details.reason } : {}),
          ...(r.usage ? { usage: usageOf(r.usage) } : {}),
          ...(r.status === 'failed' ? { error: new ProviderError(`${this.provider} realtime response failed: ${failure?.type ?? 'error'} ${failure?.code ?? ''}`.trim(), { provider: this.provider, retryable: true }) } : {}),
        });
      }
      case 'conversation.item.truncated':
        return void emit({ type: 'truncated', itemId: ev.item_id, audioEndMs: ev.audio_end_ms });
      case 'error':
        return void emit({ type: 'error', error: this.errorOf(ev.error) });
      default:
        return;
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.closed || this.ws !== ws) return;
    this.ws = undefined;
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
          this.out.offer({ type: 'reconnected', attempt });
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

  private shutdown(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stop.abort();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
    }
  }

  private send(ev: RealtimeClientEvent): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(ev));
  }

  appendAudio(frame: AudioFrame): void {
    let samples = frame.samples;
    if (frame.sampleRate !== REALTIME_RATE) {
      if (this.resampler?.inRate !== frame.sampleRate) this.resampler = new Resampler(frame.sampleRate, REALTIME_RATE);
      samples = this.resampler.process(samples);
    }
    if (!samples.length) return;
    this.sentMs += (samples.length * 1000) / REALTIME_RATE;
    this.send({ type: 'input_audio_buffer.append', audio: frameToBytes({ samples, sampleRate: REALTIME_RATE }).toString('base64') } satisfies InputAudioBufferAppendEvent);
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

  respond(options: { instructions?: string; tools?: boolean } = {}): void {
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
    this.out.close();
  }

  /** The connection's events, until it is closed (or fails with a typed error). One consumer only. */
  [Symbol.asyncIterator](): AsyncIterator<RealtimeEvent> {
    if (this.iterated) throw new Error('A realtime connection can only be iterated once');
    this.iterated = true;
    return this.out[Symbol.asyncIterator]();
  }
}
