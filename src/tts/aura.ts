import type WebSocket from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { AbortError, ConfigError, ProtocolError, ProviderError, TimeoutError } from '../errors';
import { checkApiKey, checkBaseURL } from '../provider';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';
import { openSocket } from './ws-pool';

/** Options of {@link DeepgramAuraTts}. */
export interface DeepgramAuraTtsOptions {
  /** Deepgram API key (`Authorization: Token`). */
  apiKey: string;
  /** Voice model (default `aura-2-thalia-en`). */
  model?: string;
  /** `linear16` (default) or `mulaw`. */
  encoding?: 'linear16' | 'mulaw';
  /** 8000, 16000, 24000 (default), 32000 or 48000 (mulaw: 8000 or 16000). */
  sampleRate?: number;
  /**
   * Base URL: scheme, host and path up to the API version (default `wss://api.deepgram.com/v1`;
   * `https:` is taken as `wss:`). `/speak` is appended.
   */
  baseURL?: string;
  /** Longest wait for audio after a flush (default 10 000 ms). */
  stallTimeoutMs?: number;
}

/**
 * Deepgram Aura streaming TTS over one WebSocket for the whole call: each chunk is sent as
 * `Speak` + `Flush`; a reply ends when its last `Flushed` arrives; cancelling sends `Clear` and
 * drops the audio still in flight, so the socket is ready for the next reply at once.
 */
export class DeepgramAuraTts extends TtsStream {
  readonly provider = 'deepgram-aura';
  readonly sampleRate: number;
  private readonly url: string;
  private socket?: Promise<WebSocket>;
  private onMessage?: (data: Buffer, isBinary: boolean) => void;
  private discarding = false;

  readonly #apiKey: string;
  readonly #options: Omit<DeepgramAuraTtsOptions, 'apiKey'>;

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
  }

  private connection(): Promise<WebSocket> {
    this.socket ??= openSocket(this.url, { Authorization: `Token ${this.#apiKey}` }, this.provider).then((ws) => {
      ws.on('message', (data, isBinary) => {
        if (!isBinary && this.discarding && String(data).includes('"Cleared"')) this.discarding = false;
        else if (isBinary && this.discarding) return;
        this.onMessage?.(data as Buffer, isBinary);
      });
      ws.on('close', () => {
        this.socket = undefined;
        this.discarding = false;
      });
      return ws;
    });
    this.socket.catch(() => (this.socket = undefined));
    return this.socket;
  }

  override warmup(): Promise<void> {
    return this.connection().then(() => undefined, () => undefined);
  }

  override async close(): Promise<void> {
    const p = this.socket;
    this.socket = undefined;
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
    const ws = await this.connection();
    const provider = this.provider;
    const out = new Channel<TtsFrame>(Infinity);
    let pending = 0;
    let textDone = false;
    let finished = false;
    let carry: Buffer | undefined;
    const stallMs = this.#options.stallTimeoutMs ?? 10_000;
    let stall: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(stall);
      if (pending > 0) stall = setTimeout(() => out.fail(new TimeoutError(`${provider} sent no audio for ${stallMs} ms`, { provider })), stallMs);
    };
    const finish = () => {
      if (textDone && pending === 0 && !finished) {
        finished = true;
        clearTimeout(stall);
        out.close();
      }
    };
    this.onMessage = (data, isBinary) => {
      arm();
      if (isBinary) {
        let buf = data;
        if (this.#options.encoding === 'mulaw') return void out.offer({ samples: decodeMulaw(buf), sampleRate: this.sampleRate });
        if (carry) buf = Buffer.concat([carry, buf]);
        carry = buf.length % 2 ? Buffer.from(buf.subarray(buf.length - 1)) : undefined;
        const even = Buffer.from(buf.subarray(0, buf.length - (buf.length % 2)));
        if (even.length) out.offer({ samples: new Int16Array(even.buffer, even.byteOffset, even.length / 2), sampleRate: this.sampleRate });
        return;
      }
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return out.fail(new ProtocolError(`${provider} sent a message that is not JSON`, { provider }));
      }
      if (msg.type === 'Flushed') {
        pending = Math.max(0, pending - 1);
        finish();
      }
    };
    const onClose = (code: number) => {
      if (!finished) out.fail(new ProviderError(`${provider} closed the stream: ${code}`, { provider, status: code, retryable: true, code: 'connection_error' }));
    };
    ws.on('close', onClose);
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) {
          if (!chunk.trim() || ws.readyState !== 1) continue;
          ws.send(JSON.stringify({ type: 'Speak', text: chunk }));
          ws.send('{"type":"Flush"}');
          pending++;
          arm();
        }
        textDone = true;
        finish();
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) out.fail(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      clearTimeout(stall);
      ws.off('close', onClose);
      this.onMessage = undefined;
      if (!finished && ws.readyState === 1) {
        // Cancelled mid-reply: drop what the provider still has, and the audio already on its way.
        this.discarding = true;
        ws.send('{"type":"Clear"}');
      }
      finished = true;
      stop.abort();
      stop.dispose();
      await pump;
    }
  }
}
