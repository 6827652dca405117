import type WebSocket from 'ws';
import { AbortError, ConfigError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { GATEWAY_TTS_OPTIONS } from '../option-names';
import { Channel, abortable, linkedAbort } from '../streams/channel';
import { DEFAULT_STALL_MS, StallTimer } from './stall';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';
import { WarmSocket, openSocket } from './ws-pool';

/** Options of {@link GatewayTts}. */
export interface GatewayTtsOptions {
  /** Gateway key (`Authorization: Bearer`). */
  apiKey: string;
  /** Model id, e.g. `elevenlabs/eleven-turbo-v3`. */
  model: string;
  /** Voice name or id, e.g. `rachel`. */
  voice?: string | undefined;
  /** Gateway base URL (default `https://api.aigateway.sh/v1`; its `wss:` form is used). */
  baseURL?: string | undefined;
  /**
   * Text sent (or the end of the text) with no answer for this long makes the reply fail with a
   * `TimeoutError` instead of waiting forever (default 10 000 ms).
   */
  stallTimeoutMs?: number | undefined;
}

/**
 * The gateway's streaming TTS endpoint (`/v1/audio/speech/stream`): `{"text"}` frames in, raw
 * PCM16 24 kHz binary frames out, `{"text": ""}` to end. A socket per reply, warmed ahead.
 */
export class GatewayTts extends TtsStream {
  readonly provider = 'gateway';
  readonly sampleRate = 24000;
  private readonly pool: WarmSocket;
  private readonly stallMs: number;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: GatewayTtsOptions) {
    super();
    const apiKey = checkApiKey('GatewayTts', options?.apiKey);
    if (!options.model) throw new ConfigError('GatewayTts needs a model');
    this.stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    const q = new URLSearchParams({ model: options.model });
    if (options.voice) q.set('voice', options.voice);
    const url = `${checkBaseURL('GatewayTts', options, 'https://api.aigateway.sh/v1', 'ws')}/audio/speech/stream?${q}`;
    checkOptionNames('GatewayTts', options, GATEWAY_TTS_OPTIONS);
    this.pool = new WarmSocket(() => openSocket(url, { Authorization: `Bearer ${apiKey}` }, this.provider), '{"text":""}');
  }

  override warmup(): Promise<void> {
    return this.pool.warm();
  }

  override close(): Promise<void> {
    return this.pool.close();
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    const ws: WebSocket = await this.pool.take();
    const out = new Channel<TtsFrame>(Infinity);
    let done = false;
    let carry: Buffer | undefined;
    // Stall timer: armed by text the gateway has not answered yet, reset by every answer.
    const stall = new StallTimer(this.stallMs, this.provider, (err) => {
      done = true;
      out.fail(err);
      ws.terminate();
    }, 'TTS answered nothing');
    const sent = (msg: string) => {
      ws.send(msg);
      stall.armOnce();
    };
    const answered = () => stall.clear();
    ws.on('message', (data, isBinary) => {
      answered();
      if (!isBinary) {
        done = true;
        return out.fail(new ProviderError(`gateway TTS error: ${String(data).slice(0, 200)}`, { provider: this.provider }));
      }
      let buf = data as Buffer;
      if (carry) buf = Buffer.concat([carry, buf]);
      carry = buf.length % 2 ? Buffer.from(buf.subarray(buf.length - 1)) : undefined;
      const even = Buffer.from(buf.subarray(0, buf.length - (buf.length % 2)));
      if (even.length) out.offer({ samples: new Int16Array(even.buffer, even.byteOffset, even.length / 2), sampleRate: this.sampleRate });
    });
    ws.on('close', (code, reason) => {
      answered();
      if (done) return;
      done = true;
      if (code === 1000) out.close();
      else out.fail(new ProviderError(`gateway TTS closed the stream: ${code} ${String(reason)}`.trim(), { provider: this.provider, status: code, retryable: true, code: 'connection_error' }));
    });
    const stop = linkedAbort(signal);
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, stop.signal)) if (chunk.trim() && ws.readyState === 1 && !done) sent(JSON.stringify({ text: chunk }));
        if (ws.readyState === 1 && !done) sent(JSON.stringify({ text: '' }));
      } catch (err) {
        if (!(stop.signal.aborted && !signal?.aborted)) out.fail(err);
      }
    })();
    try {
      yield* abortable(out, signal);
    } finally {
      done = true;
      answered();
      stop.abort();
      stop.dispose();
      if (ws.readyState <= 1) ws.close(1000);
      await pump;
    }
  }
}
