import type WebSocket from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { Pcm16Decoder } from '../audio/pcm16';
import { AbortError, ConfigError, ProtocolError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { DEEPGRAM_AURA_TTS_OPTIONS } from '../option-names';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { TextInput } from './text-input';
import { DEFAULT_STALL_MS, StallTimer } from './stall';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';
import { openSocket } from './ws-pool';

/** A warning from Deepgram Aura (e.g. too many flushes). */
export interface AuraWarning {
  /** Deepgram's code, e.g. `EXCESSIVE_FLUSH`. */
  code: string;
  /** What went wrong. */
  description: string;
}

/** Options of {@link DeepgramAuraTts}. */
export interface DeepgramAuraTtsOptions {
  /** Deepgram API key (`Authorization: Token`). */
  apiKey: string;
  /** Voice model (default `aura-2-thalia-en`). */
  model?: string | undefined;
  /** `linear16` (default) or `mulaw`. */
  encoding?: 'linear16' | 'mulaw' | undefined;
  /** 8000, 16000, 24000 (default), 32000 or 48000 (mulaw: 8000 or 16000). */
  sampleRate?: number | undefined;
  /**
   * Base URL: scheme, host and path up to the API version (default `wss://api.deepgram.com/v1`;
   * `https:` is taken as `wss:`). `/speak` is appended.
   */
  baseURL?: string | undefined;
  /** Longest wait for audio after text was sent, or between audio messages (default 10 000 ms). */
  stallTimeoutMs?: number | undefined;
  /** Longest wait for `Cleared` after a cancelled reply's `Clear`; past it the socket is replaced (default 2000 ms). */
  clearTimeoutMs?: number | undefined;
  /** Called with each `Warning` Deepgram sends (default: `process.emitWarning`). */
  onWarning?: ((warning: AuraWarning) => void) | undefined;
}

/** A server text message of Aura's WebSocket, as {@link DeepgramAuraTts} reads it. @internal */
export interface AuraServerWire {
  type?: string;
  sequence_id?: number;
  description?: string;
  code?: string;
  /** The shape the service has been seen sending for a flush warning. */
  warn_code?: string;
  warn_msg?: string;
}

/**
 * Deepgram Aura streaming TTS over one WebSocket for the whole call: each chunk is sent as a
 * `Speak` ending in a space, and one `Flush` ends the reply (Deepgram allows 20 a minute); the reply
 * ends on the `Flushed` that answers it. Cancelling sends `Clear` and drops everything until
 * `Cleared` (a late `Flushed` of the cancelled reply included); the next reply waits for it, at
 * most `clearTimeoutMs`, after which the socket is replaced. `Warning`s go to `onWarning`.
 */
export class DeepgramAuraTts extends TtsStream {
  readonly provider = 'deepgram-aura';
  readonly sampleRate: number;
  private readonly url: string;
  private socket?: Promise<WebSocket>;
  private onMessage?: (msg: AuraServerWire | Buffer) => void;
  /** Flushes sent and `Flushed` received on the current socket: the n-th `Flushed` answers the n-th `Flush`. */
  private flushesSent = 0;
  private flushesDone = 0;
  /** While a `Clear` waits for its `Cleared`: everything else is dropped. */
  private clearing?: { done: Promise<void>; resolve: () => void };

  readonly #apiKey: string;
  readonly #options: Omit<DeepgramAuraTtsOptions, 'apiKey'>;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: DeepgramAuraTtsOptions) {
    super();
    const { apiKey, ...rest } = options ?? ({} as DeepgramAuraTtsOptions);
    this.#apiKey = checkApiKey('DeepgramAuraTts', apiKey);
    this.#options = rest;
    const encoding = options.encoding ?? 'linear16';
    this.sampleRate = options.sampleRate ?? (encoding === 'mulaw' ? 8000 : 24000);
    if (![8000, 16000, 24000, 32000, 48000].includes(this.sampleRate) || (encoding === 'mulaw' && this.sampleRate > 16000)) {
      throw new ConfigError(`DeepgramAuraTts: unsupported sampleRate ${this.sampleRate} for ${encoding}`);
    }
    const q = new URLSearchParams({ model: options.model ?? 'aura-2-thalia-en', encoding, sample_rate: String(this.sampleRate) });
    this.url = `${checkBaseURL('DeepgramAuraTts', options, 'wss://api.deepgram.com/v1', 'ws')}/speak?${q}`;
    checkOptionNames('DeepgramAuraTts', options, DEEPGRAM_AURA_TTS_OPTIONS);
  }

  private connection(): Promise<WebSocket> {
    if (this.socket) return this.socket;
    const p = openSocket(this.url, { Authorization: `Token ${this.#apiKey}` }, this.provider).then((ws) => {
      this.flushesSent = this.flushesDone = 0;
      ws.on('message', (data, isBinary) => {
        if (this.socket !== p) return;
        if (isBinary) {
          if (!this.clearing) this.onMessage?.(data as Buffer);
          return;
        }
        let msg: AuraServerWire;
        try {
          msg = JSON.parse(String(data)) as AuraServerWire;
        } catch {
          return this.onMessage?.({ type: 'NotJson' });
        }
        if (msg.type === 'Warning' || msg.warn_code !== undefined) return this.warn({ code: String(msg.code ?? msg.warn_code ?? ''), description: String(msg.description ?? msg.warn_msg ?? '') });
        if (msg.type === 'Cleared') {
          this.flushesDone = this.flushesSent; // every flush before the Clear is settled
          return this.settle();
        }
        if (this.clearing) return; // a cancelled reply's audio and Flushed
        if (msg.type === 'Flushed') this.flushesDone++;
        this.onMessage?.(msg);
      });
      ws.on('close', (code) => {
        if (this.socket !== p) return;
        this.socket = undefined;
        this.settle();
        this.onMessage?.({ type: 'Closed', code: String(code) });
      });
      return ws;
    });
    this.socket = p;
    p.catch(() => {
      if (this.socket === p) this.socket = undefined;
    });
    return p;
  }

  private warn(w: AuraWarning): void {
    if (this.#options.onWarning) this.#options.onWarning(w);
    else process.emitWarning(`${this.provider}: ${w.code} ${w.description}`.trim(), 'VoxlineWarning');
  }

  private settle(): void {
    const c = this.clearing;
    this.clearing = undefined;
    c?.resolve();
  }

  /** Sends `Clear`; the socket is replaced if `Cleared` does not come in time. */
  private clear(ws: WebSocket): void {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const c = { done, resolve };
    this.clearing = c;
    ws.send('{"type":"Clear"}');
    const deadline = setTimeout(() => {
      if (this.clearing !== c) return;
      this.socket = undefined;
      ws.terminate();
      this.settle();
    }, this.#options.clearTimeoutMs ?? 2000);
    void done.then(() => clearTimeout(deadline));
  }

  override warmup(): Promise<void> {
    return this.connection().then(() => undefined, () => undefined);
  }

  override async close(): Promise<void> {
    const p = this.socket;
    this.socket = undefined;
    this.settle();
    if (!p) return;
    try {
      const ws = await p;
      if (ws.readyState === 1) ws.send('{"type":"Close"}');
      ws.close(1000);
    } catch {
      // never opened
    }
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    await this.clearing?.done; // a cancelled reply's Clear settles first
    const socket = this.connection();
    const ws = await socket;
    const provider = this.provider;
    const out = new Channel<TtsFrame>(Infinity);
    const pcm = new Pcm16Decoder();
    let flush: number | undefined; // the ordinal of this reply's Flush
    let finished = false;
    let completed = false;
    /** Characters of words sent, and whether any audio came for them. */
    let wordChars = 0;
    let heard = false;
    const stall = new StallTimer(this.#options.stallTimeoutMs ?? DEFAULT_STALL_MS, provider, (err) => fail(err));
    const arm = () => stall.arm();
    const fail = (err: unknown) => {
      if (finished) return;
      finished = true;
      stall.clear();
      out.fail(err);
    };
    this.onMessage = (msg) => {
      if (finished) return;
      if (Buffer.isBuffer(msg)) {
        if (flush !== undefined) arm(); // audio is owed once the reply is flushed
        heard ||= msg.length > 0;
        const samples = this.#options.encoding === 'mulaw' ? decodeMulaw(msg) : pcm.push(msg);
        if (samples.length) out.offer({ samples, sampleRate: this.sampleRate });
        return;
      }
      if (msg.type === 'NotJson') return fail(new ProtocolError(`${provider} sent a message that is not JSON`, { provider }));
      if (msg.type === 'Closed') return fail(new ProviderError(`${provider} closed the stream: ${msg.code}`, { provider, status: Number(msg.code), retryable: true, code: 'connection_error' }));
      if (msg.type === 'Flushed' && flush !== undefined && this.flushesDone > flush) {
        // Words flushed and not a sample of audio for them: the socket is in a bad state (it
        // would answer every later reply the same way). It is replaced and the reply fails.
        if (wordChars > 0 && !heard) {
          if (this.socket === socket) this.socket = undefined;
          ws.terminate();
          return fail(new ProviderError(`${provider} answered the Flush with no audio for ${wordChars} characters of text`, { provider, retryable: true, code: 'provider_error' }));
        }
        finished = completed = true;
        stall.clear();
        out.close();
      }
    };
    const input = new TextInput();
    const speak = (t: string) => {
      if (!t || ws.readyState !== 1) return;
      if (/[\p{L}\p{N}]/u.test(t)) wordChars += t.length;
      ws.send(JSON.stringify({ type: 'Speak', text: t }));
    };
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) speak(input.push(chunk));
        speak(input.end());
        if (ws.readyState !== 1) return;
        flush = this.flushesSent++;
        ws.send('{"type":"Flush"}');
        arm();
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) fail(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      stall.clear();
      this.onMessage = undefined;
      // Cut short (cancelled, failed): drop what the provider still has, and the audio already on its way.
      if (!completed && ws.readyState === 1 && this.socket === socket) this.clear(ws);
      finished = true;
      stop.abort();
      stop.dispose();
      await pump;
    }
  }
}
