import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import { Pcm16Decoder } from '../audio/pcm16';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames } from '../provider';
import { OPENAI_TTS_OPTIONS } from '../option-names';
import { abortable } from '../streams/channel';
import { DEFAULT_STALL_MS, StallTimer } from './stall';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';

/** Options of {@link OpenAiTts}. */
export interface OpenAiTtsOptions {
  /** API key (not needed with `client`). */
  apiKey?: string | undefined;
  /** Base URL of any OpenAI-compatible speech endpoint (default OpenAI's). */
  baseURL?: string | undefined;
  /** A ready `openai` client. */
  client?: OpenAI | undefined;
  /** `gpt-4o-mini-tts` (default), `tts-1`, `tts-1-hd`, or a local server's model. */
  model?: string | undefined;
  /** Voice (default `alloy`). */
  voice?: string | undefined;
  /** Speaking instructions (gpt-4o-mini-tts only). */
  instructions?: string | undefined;
  /** 0.25 to 4 (default 1). */
  speed?: number | undefined;
  /**
   * `audio` (raw PCM body, default) or `sse` (`speech.audio.delta` events, parsed by the `openai`
   * package; not supported by `tts-1` and `tts-1-hd`).
   */
  streamFormat?: 'audio' | 'sse' | undefined;
  /**
   * A request that has sent no audio for this long (before its first byte or between two) fails
   * the reply with a `TimeoutError` instead of waiting on the server (default 10 000 ms).
   */
  stallTimeoutMs?: number | undefined;
}

/**
 * The events of `stream_format: "sse"`, as OpenAI's API reference defines them
 * (`SpeechAudioDeltaEvent`, `SpeechAudioDoneEvent`; the `openai` package does not type them). @internal
 */
export type SpeechStreamEvent =
  | { type: 'speech.audio.delta'; audio: string }
  | { type: 'speech.audio.done'; usage: { input_tokens: number; output_tokens: number; total_tokens: number } };

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

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
  constructor(options: OpenAiTtsOptions = {}) {
    super();
    const { apiKey, client, ...rest } = options;
    if (!client && !apiKey) throw new ConfigError('OpenAiTts needs an apiKey or a client');
    if (apiKey !== undefined) checkApiKey('OpenAiTts', apiKey);
    this.#options = rest;
    if (options.speed !== undefined && !(options.speed >= 0.25 && options.speed <= 4)) throw new ConfigError('OpenAiTts speed must be between 0.25 and 4');
    if (options.streamFormat === 'sse' && /^tts-1(-hd)?$/.test(options.model ?? '')) throw new ConfigError(`OpenAiTts: ${options.model} does not support streamFormat "sse"; use "audio"`);
    this.#client = client ?? new OpenAI({ apiKey, baseURL: checkBaseURL('OpenAiTts', options, 'https://api.openai.com/v1', 'http'), maxRetries: 1 });
    checkOptionNames('OpenAiTts', options, OPENAI_TTS_OPTIONS);
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const requests: Promise<Response>[] = [];
    // Stall timer: runs while audio is owed (a request sent, its body not read to the end).
    const stall = new StallTimer(this.#options.stallTimeoutMs ?? DEFAULT_STALL_MS, this.provider, () => ac.abort());
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
        stall.clear(); // waiting for text: no audio is owed
        while (i >= requests.length && !textDone) await new Promise<void>((r) => (wake = r));
        if (failure) throw failure;
        if (i >= requests.length) break;
        stall.arm();
        let res: Response;
        try {
          res = await requests[i]!;
        } catch (err) {
          throw stall.error ?? this.mapError(err, signal);
        }
        yield* this.read(res, ac, signal, stall);
      }
    } finally {
      stall.clear();
      signal?.removeEventListener('abort', onAbort);
      ac.abort();
      await pump;
    }
  }

  /** Reads one response: the raw PCM body, or the package's parse of its SSE events. */
  private async *read(res: Response, ac: AbortController, signal: AbortSignal | undefined, stall: StallTimer): AsyncGenerator<TtsFrame> {
    if (!res.body) return;
    const pcm = new Pcm16Decoder();
    const client = this.#client;
    const chunks: AsyncIterable<Uint8Array> =
      this.#options.streamFormat === 'sse'
        ? (async function* () {
            for await (const ev of Stream.fromSSEResponse<SpeechStreamEvent>(res, ac, client)) if (ev.type === 'speech.audio.delta') yield Buffer.from(ev.audio, 'base64');
          })()
        : (res.body as unknown as AsyncIterable<Uint8Array>);
    try {
      for await (const chunk of chunks) {
        stall.arm();
        const samples = pcm.push(chunk);
        if (samples.length) yield { samples, sampleRate: this.sampleRate };
      }
    } catch (err) {
      throw stall.error ?? this.mapError(err, signal);
    }
    // The package's SSE stream ends quietly when its request is aborted.
    if (stall.error) throw stall.error;
    if (signal?.aborted) throw new AbortError('Synthesis aborted');
  }

  private mapError(err: unknown, signal?: AbortSignal): Error {
    const provider = this.provider;
    if (err instanceof ProtocolError || err instanceof ConfigError) return err;
    if (err instanceof SyntaxError) return new ProtocolError(`${provider} sent an event that is not JSON`, { provider, cause: err });
    if (signal?.aborted || err instanceof OpenAI.APIUserAbortError) return new AbortError('Synthesis aborted');
    if (err instanceof OpenAI.APIError) {
      if (err.status === 401 || err.status === 403) return new AuthError(`${provider} refused the credentials (HTTP ${err.status})`, { provider, status: err.status });
      return new ProviderError(`${provider} error${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}`, { provider, status: err.status, retryable: err.status === undefined || err.status === 429 || err.status >= 500 });
    }
    return new ProviderError(`${provider} error: ${(err as Error)?.message ?? String(err)}`, { provider, retryable: true, code: 'connection_error', cause: err });
  }
}
