import OpenAI from 'openai';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, TimeoutError, VoxlineError } from '../errors';
import { checkApiKey } from '../provider';
import { linkedAbort } from '../streams/channel';
import { LlmStream, type ChatMessage, type LlmEvent, type RespondOptions } from './types';

/** Options of {@link OpenAiLlm}. */
export interface OpenAiLlmOptions {
  /** Model id, e.g. `gpt-4o-mini`, `moonshot/kimi-k2.6`, `llama3.1`. */
  model: string;
  /** API key (not needed when `client` is given). */
  apiKey?: string;
  /** Base URL of any OpenAI-compatible API (default: OpenAI's). */
  baseURL?: string;
  /** A ready `openai` client instead of `apiKey`/`baseURL`. */
  client?: OpenAI;
  /** System prompt. */
  instructions?: string;
  temperature?: number;
  /** Upper bound on reply tokens (`max_tokens`). */
  maxTokens?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Retries of 429 and 5xx answers; they happen before the first token only (default 2). */
  maxRetries?: number;
  /** Request timeout (default 60 000 ms). */
  timeoutMs?: number;
  /** Any other body fields (e.g. `reasoning_effort`, `top_p`). */
  extraBody?: Record<string, unknown>;
  /** Provider name in errors and metrics (default `openai`). */
  provider?: string;
  /** Longest wait for the first chunk or between chunks before a `TimeoutError` (default 15 000 ms). */
  stallTimeoutMs?: number;
}

/**
 * A streaming chat model on any OpenAI-compatible chat-completions endpoint (OpenAI, a gateway,
 * Kimi, vLLM, Ollama...), through the official `openai` package. Tool-call fragments are
 * assembled into complete calls (parallel calls supported); 429 and 5xx are retried with the
 * package's backoff before the first token, never after.
 */
export class OpenAiLlm extends LlmStream {
  readonly provider: string;
  readonly model: string;
  readonly instructions?: string;
  readonly #client: OpenAI;
  readonly #options: Omit<OpenAiLlmOptions, 'apiKey' | 'client'>;

  constructor(options: OpenAiLlmOptions) {
    super();
    if (!options?.model) throw new ConfigError('OpenAiLlm needs a model');
    const { apiKey, client, ...rest } = options;
    if (!client && !apiKey) throw new ConfigError('OpenAiLlm needs an apiKey or a client');
    if (apiKey !== undefined) checkApiKey('OpenAiLlm', apiKey);
    this.#options = rest;
    this.provider = options.provider ?? 'openai';
    this.model = options.model;
    this.instructions = options.instructions;
    this.#client = client ?? new OpenAI({ apiKey, baseURL: options.baseURL, maxRetries: options.maxRetries ?? 2, timeout: options.timeoutMs ?? 60_000, defaultHeaders: options.headers });
  }

  async *respond(history: readonly ChatMessage[], options: RespondOptions = {}): AsyncGenerator<LlmEvent> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('LLM request aborted');
    const messages: ChatMessage[] = this.instructions ? [{ role: 'system', content: this.instructions }, ...history] : [...history];
    const body = {
      ...this.#options.extraBody,
      model: this.model,
      messages,
      stream: true as const,
      stream_options: { include_usage: true },
      ...(options.tools?.length ? { tools: options.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters as Record<string, unknown> } })) } : {}),
      ...(this.#options.temperature !== undefined ? { temperature: this.#options.temperature } : {}),
      ...(this.#options.maxTokens !== undefined ? { max_tokens: this.#options.maxTokens } : {}),
    };
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    // A request that stalls (before the first chunk or between chunks) is cut and reported.
    const ac = linkedAbort(signal);
    const stallMs = this.#options.stallTimeoutMs ?? 15_000;
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        ac.abort();
      }, stallMs);
    };
    const stallError = () => new TimeoutError(`${this.provider} sent nothing for ${stallMs} ms`, { provider: this.provider });
    let stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>;
    let finish: string | undefined;
    arm();
    try {
      try {
        stream = await this.#client.chat.completions.create(body, { signal: ac.signal, headers: options.headers });
      } catch (err) {
        throw stalled ? stallError() : this.mapError(err, signal);
      }
      try {
        for await (const chunk of stream) {
          arm();
          if (chunk.usage) yield { type: 'usage', usage: { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens, totalTokens: chunk.usage.total_tokens } };
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          const delta = choice.delta ?? {};
          if (delta.content) yield { type: 'text', delta: delta.content };
          for (const tc of delta.tool_calls ?? []) {
            if (typeof tc.index !== 'number') throw new ProtocolError(`${this.provider} sent a tool-call fragment without an index`, { provider: this.provider });
            const cur = calls.get(tc.index) ?? { id: '', name: '', arguments: '' };
            if (tc.id) cur.id = tc.id;
            if (tc.function?.name) cur.name += tc.function.name;
            if (tc.function?.arguments) cur.arguments += tc.function.arguments;
            calls.set(tc.index, cur);
          }
          if (choice.finish_reason) {
            finish = choice.finish_reason;
            for (const [, c] of [...calls].sort((a, b) => a[0] - b[0])) {
              if (!c.name) throw new ProtocolError(`${this.provider} sent a tool call without a name`, { provider: this.provider });
              yield { type: 'tool_call', call: { id: c.id || `call_${c.name}`, name: c.name, arguments: c.arguments } };
            }
            calls.clear();
          }
        }
      } catch (err) {
        throw stalled ? stallError() : this.mapError(err, signal);
      }
    } finally {
      clearTimeout(timer);
      ac.dispose();
    }
    // The openai package ends the loop silently when aborted mid-stream.
    if (stalled) throw stallError();
    if (signal?.aborted) throw new AbortError('LLM request aborted');
    yield { type: 'finish', reason: finish ?? 'stop' };
  }

  private mapError(err: unknown, signal?: AbortSignal): VoxlineError {
    const provider = this.provider;
    if (err instanceof VoxlineError) return err;
    if (err instanceof OpenAI.APIUserAbortError || signal?.aborted) return new AbortError('LLM request aborted');
    if (err instanceof OpenAI.APIConnectionError) return new ProviderError(`${provider}: could not reach the API (${err.message})`, { provider, retryable: true, code: 'connection_error', cause: err });
    if (err instanceof OpenAI.APIError) {
      const status = err.status;
      const detail = err.error && typeof err.error === 'object' && 'message' in err.error ? String((err.error as { message: unknown }).message) : err.message;
      if (status === 401 || status === 403) return new AuthError(`${provider} refused the credentials (HTTP ${status}): ${detail}`, { provider, status });
      if (status === 429) return new ProviderError(`${provider} rate limit (HTTP 429): ${detail}`, { provider, status, retryable: err.code !== 'insufficient_quota', code: 'rate_limited' });
      return new ProviderError(`${provider} error${status ? ` (HTTP ${status})` : ''}: ${detail}`, { provider, status, retryable: status === undefined || status >= 500 });
    }
    if (err instanceof SyntaxError || /JSON/.test(String((err as Error)?.message))) return new ProtocolError(`${provider} sent a malformed stream event: ${(err as Error).message}`, { provider, cause: err });
    return new ProviderError(`${provider} error: ${(err as Error)?.message ?? String(err)}`, { provider, cause: err });
  }
}
