import type WebSocket from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, TimeoutError } from '../errors';
import { checkApiKey } from '../provider';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { TtsStream, type Alignment, type SynthesizeOptions, type TtsFrame } from './types';
import { WarmSocket, openSocket } from './ws-pool';

/** ElevenLabs voice settings (first message only). */
export interface VoiceSettings {
  stability?: number;
  similarity_boost?: number;
  style?: number;
  use_speaker_boost?: boolean;
  /** 0.7 to 1.2. */
  speed?: number;
}

/** Options of {@link ElevenLabsTts}. */
export interface ElevenLabsTtsOptions {
  /** ElevenLabs API key (sent as the `xi-api-key` header). */
  apiKey: string;
  /** Voice id. */
  voiceId: string;
  /** Model id (default `eleven_flash_v2_5`). */
  model?: string;
  /** `pcm_8000|16000|22050|24000|44100` or `ulaw_8000` (default `pcm_24000`). */
  outputFormat?: 'pcm_8000' | 'pcm_16000' | 'pcm_22050' | 'pcm_24000' | 'pcm_44100' | 'ulaw_8000';
  voiceSettings?: VoiceSettings;
  /** Characters buffered before each generation (default ElevenLabs' `[120,160,250,290]`). */
  chunkLengthSchedule?: number[];
  /**
   * Send each text chunk with `flush: true` so it is spoken at once (default true: voxline sends
   * whole sentences). Set false when feeding raw tokens, to let the schedule decide.
   */
  flushEachChunk?: boolean;
  /** Seconds the provider keeps an idle socket (default 180, the maximum). */
  inactivityTimeoutSec?: number;
  language?: string;
  /** Reconnections per synthesis after an unexpected close; unspoken text is re-sent (default 2). */
  maxReconnects?: number;
  /** Base URL (default `wss://api.elevenlabs.io`). */
  baseUrl?: string;
  /** Longest wait for audio after text was sent, or between audio messages (default 10 000 ms). */
  stallTimeoutMs?: number;
  /**
   * The multi-context socket (`multi-stream-input`, default true): one socket for the whole call,
   * a new context per reply, `close_context` on barge-in, stale audio of old contexts dropped.
   * `false` uses `stream-input`: a socket per reply, the next one warmed ahead of need.
   */
  multiContext?: boolean;
}

/**
 * ElevenLabs streaming TTS. By default one `multi-stream-input` socket serves the whole call, with
 * a context per reply (barge-in closes the context; its late audio is dropped). With
 * `multiContext: false`, `stream-input`: a socket per reply, the next one opened ahead of need so
 * a turn never pays a handshake. Either way a socket that drops mid-reply is replaced and the
 * text not yet spoken is sent again, and a stalled reply becomes a `TimeoutError`.
 */
export class ElevenLabsTts extends TtsStream {
  readonly provider = 'elevenlabs';
  readonly sampleRate: number;
  private readonly ulaw: boolean;
  private readonly pool: WarmSocket;
  private readonly url: string;
  private multi?: Promise<WebSocket>;
  private readonly routes = new Map<string, (msg: Record<string, unknown>) => void>();
  private contextSeq = 0;

  readonly #apiKey: string;
  readonly #options: Omit<ElevenLabsTtsOptions, 'apiKey'>;

  constructor(options: ElevenLabsTtsOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as ElevenLabsTtsOptions);
    this.#apiKey = checkApiKey('ElevenLabsTts', apiKey);
    this.#options = rest;
    if (!options.voiceId) throw new ConfigError('ElevenLabsTts needs a voiceId');
    const format = options.outputFormat ?? 'pcm_24000';
    const [kind, rate] = format.split('_');
    if ((kind !== 'pcm' && kind !== 'ulaw') || !Number(rate)) throw new ConfigError(`ElevenLabsTts: unsupported outputFormat ${format}`);
    this.ulaw = kind === 'ulaw';
    this.sampleRate = Number(rate);
    const q = new URLSearchParams({ model_id: options.model ?? 'eleven_flash_v2_5', output_format: format, inactivity_timeout: String(options.inactivityTimeoutSec ?? 180) });
    if (options.language) q.set('language_code', options.language);
    this.url = `${(options.baseUrl ?? 'wss://api.elevenlabs.io').replace(/\/+$/, '')}/v1/text-to-speech/${encodeURIComponent(options.voiceId)}/${(options.multiContext ?? true) ? 'multi-stream-input' : 'stream-input'}?${q}`;
    this.pool = new WarmSocket(() => this.open(), '{"text":""}');
  }

  private async open(): Promise<WebSocket> {
    const ws = await openSocket(this.url, { 'xi-api-key': this.#apiKey }, this.provider);
    ws.send(JSON.stringify({
      text: ' ',
      voice_settings: { stability: 0.5, similarity_boost: 0.75, style: 0, use_speaker_boost: true, ...this.#options.voiceSettings },
      generation_config: { chunk_length_schedule: this.#options.chunkLengthSchedule ?? [120, 160, 250, 290] },
    }));
    return ws;
  }

  override warmup(): Promise<void> {
    return (this.#options.multiContext ?? true) ? this.multiSocket().then(() => undefined, () => undefined) : this.pool.warm();
  }

  override async close(): Promise<void> {
    if (!(this.#options.multiContext ?? true)) return this.pool.close();
    const p = this.multi;
    this.multi = undefined;
    if (!p) return;
    try {
      const ws = await p;
      if (ws.readyState === 1) ws.send('{"close_socket":true}');
      ws.close(1000);
    } catch {
      // never opened
    }
  }

  /** The call's one multi-context socket; messages go to the reply whose context they carry. */
  private multiSocket(): Promise<WebSocket> {
    this.multi ??= openSocket(this.url, { 'xi-api-key': this.#apiKey }, this.provider).then((ws) => {
      ws.on('message', (data) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(String(data)) as Record<string, unknown>;
        } catch {
          msg = { error: 'protocol', message: 'a message that is not JSON' };
        }
        const id = (msg.contextId ?? msg.context_id) as string | undefined;
        if (id !== undefined) this.routes.get(id)?.(msg); // audio of a closed context is dropped
        else for (const route of this.routes.values()) route(msg);
      });
      ws.on('close', (code, reason) => {
        this.multi = undefined;
        for (const route of this.routes.values()) route({ closed: code, message: String(reason) });
      });
      return ws;
    });
    this.multi.catch(() => (this.multi = undefined));
    return this.multi;
  }

  private async *synthesizeMulti(text: AsyncIterable<string>, signal?: AbortSignal): AsyncGenerator<TtsFrame> {
    const provider = this.provider;
    let ws = await this.multiSocket();
    const id = `ctx-${++this.contextSeq}`;
    const out = new Channel<TtsFrame>(Infinity);
    let sentText = '';
    let sent = 0;
    let spoken = 0;
    let textDone = false;
    let closed = false;
    let reconnects = 0;
    let quiet: NodeJS.Timeout | undefined;
    let stallTimer: NodeJS.Timeout | undefined;
    const stallMs = this.#options.stallTimeoutMs ?? 10_000;
    const arm = () => {
      clearTimeout(stallTimer);
      if (closed || sent <= spoken) return;
      stallTimer = setTimeout(() => out.fail(new TimeoutError(`${provider} sent no audio for ${stallMs} ms`, { provider })), stallMs);
    };
    const init = (sock: WebSocket) =>
      sock.send(JSON.stringify({
        text: ' ',
        context_id: id,
        voice_settings: { stability: 0.5, similarity_boost: 0.75, style: 0, use_speaker_boost: true, ...this.#options.voiceSettings },
        generation_config: { chunk_length_schedule: this.#options.chunkLengthSchedule ?? [120, 160, 250, 290] },
      }));
    const closeContext = () => {
      if (closed) return;
      closed = true;
      clearTimeout(stallTimer);
      this.routes.delete(id);
      if (ws.readyState === 1) ws.send(JSON.stringify({ context_id: id, close_context: true }));
    };
    const maybeDone = () => {
      clearTimeout(quiet);
      if (!textDone) return;
      if (spoken >= sent) {
        closeContext();
        out.close();
      } else {
        // Without alignment to count, end once the audio has been quiet for a while.
        quiet = setTimeout(() => { closeContext(); out.close(); }, 1500);
      }
    };
    this.routes.set(id, (msg) => {
      if (msg.closed !== undefined) {
        if (closed) return;
        if (reconnects >= (this.#options.maxReconnects ?? 2)) return out.fail(new ProviderError(`${provider} closed the socket: ${String(msg.closed)} ${String(msg.message ?? '')}`.trim(), { provider, retryable: true, code: 'connection_error' }));
        reconnects++;
        // A new socket, the same context, and the text not yet spoken.
        this.multiSocket().then(
          (next) => {
            if (closed) return;
            ws = next;
            init(next);
            const rest = sentText.slice(Math.min(spoken, sentText.length));
            if (rest.trim()) next.send(JSON.stringify({ text: rest, context_id: id, flush: true }));
            arm();
          },
          (err) => out.fail(err),
        );
        return;
      }
      arm();
      if (typeof msg.error === 'string') {
        const t = `${provider} error ${msg.error}: ${String(msg.message ?? '')}`;
        return out.fail(/api_key|auth/i.test(msg.error) ? new AuthError(t, { provider }) : new ProviderError(t, { provider, retryable: msg.error !== 'protocol' }));
      }
      if (typeof msg.audio === 'string' && msg.audio) {
        const bytes = Buffer.from(msg.audio, 'base64');
        const samples = this.ulaw ? decodeMulaw(bytes) : new Int16Array(Uint8Array.from(bytes.subarray(0, bytes.length - (bytes.length % 2))).buffer);
        const alignment = parseAlignment(msg.alignment ?? msg.normalizedAlignment);
        if (alignment) spoken += alignment.chars.length;
        out.offer({ samples, sampleRate: this.sampleRate, alignment });
        maybeDone();
      }
      if (msg.isFinal === true || msg.is_final === true) {
        closed = true;
        this.routes.delete(id);
        out.close();
      }
    });
    init(ws);
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) {
          if (!chunk.trim() || closed) continue;
          const t = /\s$/.test(chunk) ? chunk : `${chunk} `;
          sent += t.length;
          sentText += t;
          if (ws.readyState === 1) ws.send(JSON.stringify({ text: t, context_id: id, flush: true }));
          arm();
        }
        textDone = true;
        maybeDone();
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) out.fail(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      clearTimeout(quiet);
      clearTimeout(stallTimer);
      closeContext(); // on barge-in: no more audio for this context; what is in flight is dropped
      stop.abort();
      stop.dispose();
      await pump;
    }
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    const provider = this.provider;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    if (this.#options.multiContext ?? true) return yield* this.synthesizeMulti(text, signal);
    const out = new Channel<TtsFrame>(Infinity);
    const flushEach = this.#options.flushEachChunk ?? true;
    let ws: WebSocket | undefined;
    let sent = '';
    let spoken = 0;
    let textDone = false;
    let finished = false;
    let reconnects = 0;
    let stallTimer: NodeJS.Timeout | undefined;
    const stallMs = this.#options.stallTimeoutMs ?? 10_000;
    // Armed while audio is owed: from the first text until the final message.
    const arm = () => {
      clearTimeout(stallTimer);
      if (finished) return;
      stallTimer = setTimeout(() => {
        finished = true;
        out.fail(new TimeoutError(`${provider} sent no audio for ${stallMs} ms`, { provider }));
      }, stallMs);
    };
    const send = (msg: Record<string, unknown>) => {
      if (ws?.readyState === 1) ws.send(JSON.stringify(msg));
      if (typeof msg.text === 'string' && msg.text.trim()) arm();
    };
    const attach = (sock: WebSocket) => {
      ws = sock;
      sock.on('message', (data) => {
        if (sent) arm();
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(String(data)) as Record<string, unknown>;
        } catch {
          return out.fail(new ProtocolError(`${provider} sent a message that is not JSON`, { provider }));
        }
        if (typeof msg.error === 'string' || (typeof msg.message === 'string' && msg.audio === undefined && !msg.isFinal)) {
          const text = `${provider} error ${String(msg.error ?? '')}: ${String(msg.message ?? '')}`;
          finished = true;
          return out.fail(/api_key|auth/i.test(String(msg.error)) ? new AuthError(text, { provider }) : new ProviderError(text, { provider, retryable: msg.error === 'input_timeout_exceeded' }));
        }
        if (typeof msg.audio === 'string' && msg.audio) {
          const bytes = Buffer.from(msg.audio, 'base64');
          let samples: Int16Array;
          if (this.ulaw) samples = decodeMulaw(bytes);
          else {
            if (bytes.length % 2) return out.fail(new ProtocolError(`${provider} sent PCM audio with an odd byte length`, { provider }));
            samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
          }
          const alignment = parseAlignment(msg.alignment ?? msg.normalizedAlignment);
          if (alignment) spoken += alignment.chars.length;
          out.offer({ samples, sampleRate: this.sampleRate, alignment });
        }
        if (msg.isFinal === true || msg.is_final === true) {
          finished = true;
          clearTimeout(stallTimer);
          out.close();
        }
      });
      sock.on('close', (code, reason) => {
        if (finished || ws !== sock) return;
        if (reconnects >= (this.#options.maxReconnects ?? 2)) {
          finished = true;
          return out.fail(new ProviderError(`${provider} closed the stream: ${code} ${String(reason)}`.trim(), { provider, status: code, retryable: true, code: 'connection_error' }));
        }
        reconnects++;
        ws = undefined;
        // Replace the socket and send again the text the provider had not spoken yet.
        this.open().then(
          (next) => {
            if (finished) return void next.close(1000);
            attach(next);
            const rest = sent.slice(Math.min(spoken, sent.length));
            if (rest.trim()) send({ text: rest, flush: true });
            if (textDone) send({ text: '' });
          },
          (err) => {
            finished = true;
            out.fail(err);
          },
        );
      });
    };
    attach(await this.pool.take());
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) {
          if (finished) break;
          if (!chunk.trim()) continue;
          const t = /\s$/.test(chunk) ? chunk : `${chunk} `;
          sent += t;
          send(flushEach ? { text: t, flush: true } : { text: t, try_trigger_generation: true });
        }
        textDone = true;
        send({ text: '' });
      } catch (err) {
        if (stop.signal.aborted && !signal?.aborted) return;
        finished = true;
        out.fail(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      finished = true;
      clearTimeout(stallTimer);
      stop.abort();
      stop.dispose();
      const sock = ws;
      ws = undefined;
      if (sock && sock.readyState <= 1) sock.close(1000);
      await pump.catch(() => {});
    }
  }
}

function parseAlignment(a: unknown): Alignment | undefined {
  if (!a || typeof a !== 'object') return undefined;
  const x = a as Record<string, unknown>;
  const chars = x.chars;
  const start = x.charStartTimesMs ?? x.char_start_times_ms;
  const dur = x.charsDurationsMs ?? x.chars_durations_ms;
  if (!Array.isArray(chars) || !Array.isArray(start) || !Array.isArray(dur)) return undefined;
  return { chars: chars.map(String), startMs: start.map(Number), durationsMs: dur.map(Number) };
}
