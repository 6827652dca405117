import OpenAI from 'openai';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL } from '../provider';
import { abortable } from '../streams/channel';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';

/** Options of {@link OpenAiTts}. */
export interface OpenAiTtsOptions {
  /** API key (not needed with `client`). */
  apiKey?: string;
  /** Base URL of any OpenAI-compatible speech endpoint (default OpenAI's). */
  baseURL?: string;
  /** A ready `openai` client. */
  client?: OpenAI;
  /** `gpt-4o-mini-tts` (default), `tts-1`, `tts-1-hd`, or a local server's model. */
  model?: string;
  /** Voice (default `alloy`). */
  voice?: string;
  /** Speaking instructions (gpt-4o-mini-tts only). */
  instructions?: string;
  /** 0.25 to 4 (default 1). */
  speed?: number;
  /** `audio` (raw PCM body, default) or `sse` (`speech.audio.delta` events). */
  streamFormat?: 'audio' | 'sse';
}

/**
 * OpenAI text-to-speech (`POST /v1/audio/speech`, `response_format: "pcm"`: raw PCM16 24 kHz) through
 * the `openai` package, streaming the body as it arrives; any `baseURL`, so the same class serves
 * OpenAI-compatible local TTS servers. One request per chunk, started as soon as the chunk arrives
 * and played in order.
 */
export class OpenAiTts extends TtsStream {
  readonly provider = 'openai-tts';
  readonly sampleRate = 24000;
  readonly #client: OpenAI;
  readonly #options: Omit<OpenAiTtsOptions, 'apiKey' | 'client'>;

  constructor(options: OpenAiTtsOptions = {}) {
    super();
    const { apiKey, client, ...rest } = options;
    if (!client && !apiKey) throw new ConfigError('OpenAiTts needs an apiKey or a client');
    if (apiKey !== undefined) checkApiKey('OpenAiTts', apiKey);
    this.#options = rest;
    if (options.speed !== undefined && !(options.speed >= 0.25 && options.speed <= 4)) throw new ConfigError('OpenAiTts speed must be between 0.25 and 4');
    this.#client = client ?? new OpenAI({ apiKey, baseURL: checkBaseURL('OpenAiTts', options, 'https://api.openai.com/v1', 'http'), maxRetries: 1 });
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const requests: Promise<Response>[] = [];
    let textDone = false;
    let wake: (() => void) | undefined;
    let failure: unknown;
    const pump = (async () => {
      try {
        for await (const chunk of abortable(text, ac.signal)) {
          if (!chunk.trim()) continue;
          if (chunk.length > 4096) throw new ConfigError('OpenAiTts: a chunk is longer than the 4096 characters the API takes');
          const p = this.#client.audio.speech.create(
            { model: this.#options.model ?? 'gpt-4o-mini-tts', voice: this.#options.voice ?? 'alloy', input: chunk, response_format: 'pcm', ...(this.#options.streamFormat === 'sse' ? { stream_format: 'sse' as const } : {}), ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}), ...(this.#options.speed !== undefined ? { speed: this.#options.speed } : {}) },
            { signal: ac.signal },
          );
          p.catch(() => {});
          requests.push(p);
          wake?.();
        }
      } catch (err) {
        if (!ac.signal.aborted) failure = err;
      }
      textDone = true;
      wake?.();
    })();
    try {
      for (let i = 0; ; i++) {
        while (i >= requests.length && !textDone) await new Promise<void>((r) => (wake = r));
        if (failure) throw failure;
        if (i >= requests.length) break;
        let res: Response;
        try {
          res = await requests[i]!;
        } catch (err) {
          throw this.mapError(err, signal);
        }
        yield* this.read(res, signal);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      ac.abort();
      await pump;
    }
  }

  private async *read(res: Response, signal?: AbortSignal): AsyncGenerator<TtsFrame> {
    if (!res.body) return;
    const sse = this.#options.streamFormat === 'sse';
    let carry = Buffer.alloc(0);
    let lines = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        let pcm: Buffer;
        if (sse) {
          lines += decoder.decode(chunk, { stream: true });
          const parts = lines.split('\n\n');
          lines = parts.pop() ?? '';
          const audio: Buffer[] = [];
          for (const p of parts) {
            const data = p.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
            if (!data) continue;
            let ev: { type?: string; audio?: string };
            try {
              ev = JSON.parse(data) as typeof ev;
            } catch {
              throw new ProtocolError(`${this.provider} sent an SSE event that is not JSON`, { provider: this.provider });
            }
            if (ev.type === 'speech.audio.delta' && typeof ev.audio === 'string') audio.push(Buffer.from(ev.audio, 'base64'));
          }
          pcm = Buffer.concat([carry, ...audio]);
        } else pcm = Buffer.concat([carry, chunk]);
        const even = pcm.length - (pcm.length % 2);
        carry = Buffer.from(pcm.subarray(even));
        if (even) yield { samples: new Int16Array(Uint8Array.from(pcm.subarray(0, even)).buffer), sampleRate: this.sampleRate };
      }
    } catch (err) {
      throw this.mapError(err, signal);
    }
  }

  private mapError(err: unknown, signal?: AbortSignal): Error {
    const provider = this.provider;
    if (err instanceof ProtocolError || err instanceof ConfigError) return err;
    if (signal?.aborted || err instanceof OpenAI.APIUserAbortError) return new AbortError('Synthesis aborted');
    if (err instanceof OpenAI.APIError) {
      if (err.status === 401 || err.status === 403) return new AuthError(`${provider} refused the credentials (HTTP ${err.status})`, { provider, status: err.status });
      return new ProviderError(`${provider} error${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}`, { provider, status: err.status, retryable: err.status === undefined || err.status === 429 || err.status >= 500 });
    }
    return new ProviderError(`${provider} error: ${(err as Error)?.message ?? String(err)}`, { provider, retryable: true, code: 'connection_error', cause: err });
  }
}
