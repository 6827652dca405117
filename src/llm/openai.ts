import OpenAI from 'openai';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, TimeoutError, VoxlineError } from '../errors';
import { checkApiKey, checkBaseURL, checkOptionNames, checkRange } from '../provider';
import { OPENAI_LLM_OPTIONS } from '../option-names';
import { linkedAbort } from '../streams/channel';
import { ChatHttp, statusError } from './chat-http';
import { withInstructions } from './history';
import { LlmStream, type ChatMessage, type LlmEvent, type RespondOptions } from './types';

/** Options of {@link OpenAiLlm}. */
export interface OpenAiLlmOptions {
  /** Model id, e.g. `gpt-4o-mini`, `moonshot/kimi-k2.6`, `llama3.1`. */
  model: string;
  /** API key (not needed when `client` is given). */
  apiKey?: string | undefined;
  /** Base URL of any OpenAI-compatible API (default: OpenAI's). */
  baseURL?: string | undefined;
  /** A ready `openai` client instead of `apiKey`/`baseURL`. */
  client?: OpenAI | undefined;
  /** System prompt. */
  instructions?: string | undefined;
  /** Sampling temperature (0 to 2); the provider's default when unset. */
  temperature?: number | undefined;
  /** Upper bound on reply tokens, reasoning tokens included (sent as {@link OpenAiLlmOptions.maxTokensParam}). */
  maxTokens?: number | undefined;
  /**
   * The body field that carries `maxTokens`: `max_completion_tokens` (default; OpenAI deprecated
   * `max_tokens` and its o-series models refuse it) or `max_tokens` for servers that know only that.
   */
  maxTokensParam?: 'max_completion_tokens' | 'max_tokens' | undefined;
  /** Headers sent with every request. */
  headers?: Record<string, string> | undefined;
  /** Retries of 429 and 5xx answers; they happen before the first token only (default 2). */
  maxRetries?: number | undefined;
  /** Request timeout (default 60 000 ms). */
  timeoutMs?: number | undefined;
  /** Any other body fields (e.g. `reasoning_effort`, `top_p`). */
  extraBody?: Record<string, unknown> | undefined;
  /** Provider name in errors and metrics (default `openai`). */
  provider?: string | undefined;
  /**
   * Longest wait, once the reply has started, between two chunks before a `TimeoutError`
   * (default 15 000 ms).
   */
  stallTimeoutMs?: number | undefined;
  /**
   * Longest wait for the first token of each attempt, from the request to the first chunk that
   * carries something (text, a tool call, reasoning, a finish), before a `TimeoutError` (default
   * 60 000 ms: reasoning models think first). The package's waits between retries are not counted.
   */
  firstTokenTimeoutMs?: number | undefined;
}

/**
 * A streaming chat model on any OpenAI-compatible chat-completions endpoint (OpenAI, a gateway,
 * Kimi, vLLM, Ollama...). With `apiKey` it posts over `node:http(s)` with the official `openai`
 * package's request, retry rule and error handling (a third of the package's CPU per request); a
 * ready `client` is used as it is. Tool-call fragments are assembled into complete calls
 * (parallel calls supported); 429 and 5xx are retried with the package's backoff before the
 * first token, never after.
 */
export class OpenAiLlm extends LlmStream {
  readonly provider: string;
  readonly model: string;
  readonly instructions?: string | undefined;
  readonly #options: Omit<OpenAiLlmOptions, 'apiKey' | 'client'>;
  /** Either a ready client (with its fetch), or the direct transport. */
  readonly #via: { client: OpenAI; fetch: Fetch } | ChatHttp;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing connects before the first call. */
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
    const maxRetries = options.maxRetries ?? 2;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new ConfigError(`OpenAiLlm maxRetries must be a whole number >= 0, got ${String(maxRetries)}`);
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!(timeoutMs > 0)) throw new ConfigError(`OpenAiLlm timeoutMs must be a number of ms > 0, got ${String(timeoutMs)}`);
    if (client) {
      // The client's own fetch (it may have a custom one), wrapped per request to time each attempt.
      const own: unknown = Reflect.get(client, 'fetch');
      this.#via = { client, fetch: typeof own === 'function' ? (own as Fetch) : (url, init) => globalThis.fetch(url, init) };
    } else {
      const baseURL = checkBaseURL('OpenAiLlm', options, 'https://api.openai.com/v1', 'http');
      this.#via = new ChatHttp({ baseURL, headers: options.headers, maxRetries, timeoutMs, provider: this.provider }, apiKey!);
    }
    checkOptionNames('OpenAiLlm', options, OPENAI_LLM_OPTIONS, '(other request body fields go in `extraBody`)');
    checkRange('OpenAiLlm', 'temperature', options.temperature, 0, 2);
    if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && options.maxTokens > 0)) throw new ConfigError(`OpenAiLlm: maxTokens must be a whole number of tokens, 1 or more (got ${String(options.maxTokens)})`);
  }

  async *respond(history: readonly ChatMessage[], options: RespondOptions = {}): AsyncGenerator<LlmEvent> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError('LLM request aborted');
    const messages = withInstructions(history, this.instructions);
    const body = {
      ...this.#options.extraBody,
      model: this.model,
      messages,
      stream: true as const,
      stream_options: { include_usage: true },
      ...(options.tools?.length ? { tools: options.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters as Record<string, unknown> } })) } : {}),
      ...(this.#options.temperature !== undefined ? { temperature: this.#options.temperature } : {}),
      ...(this.#options.maxTokens !== undefined ? { [this.#options.maxTokensParam ?? 'max_completion_tokens']: this.#options.maxTokens } : {}),
    };
    const calls = new ToolCallAssembler(this.provider);
    // The first token of each attempt has its own budget; then each gap between chunks has the
    // stall budget. Between attempts (the package's retry waits) no timer runs.
    const ac = linkedAbort(signal);
    const firstMs = this.#options.firstTokenTimeoutMs ?? 60_000;
    const stallMs = this.#options.stallTimeoutMs ?? 15_000;
    let timedOut: TimeoutError | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, message: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = new TimeoutError(message, { provider: this.provider });
        ac.abort();
      }, ms);
    };
    const armFirst = () => arm(firstMs, `${this.provider} sent no first token within ${firstMs} ms`);
    let stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>;
    let finish: string | undefined;
    let started = false;
    try {
      try {
        const via = this.#via;
        if (via instanceof ChatHttp) stream = await via.open(body, { signal: ac.signal, headers: options.headers, attempt: armFirst, failed: () => clearTimeout(timer) });
        else {
          armFirst();
          const client = via.client.withOptions({
            fetch: async (url, init) => {
              armFirst();
              try {
                const res = await via.fetch(url, init);
                // An error answer ends the attempt: a retry wait may follow.
                if (!res.ok) clearTimeout(timer);
                return res;
              } catch (err) {
                clearTimeout(timer);
                throw err;
              }
            },
          });
          // The package does not abort its retry waits: race them with the signal.
          stream = await raceAbort(client.chat.completions.create(body, { signal: ac.signal, headers: options.headers }), ac.signal);
        }
      } catch (err) {
        throw timedOut ?? this.mapError(err, signal);
      }
      try {
        for await (const chunk of stream) {
          if (started || carriesToken(chunk)) {
            started = true;
            arm(stallMs, `${this.provider} sent nothing for ${stallMs} ms`);
          }
          if (chunk.usage) yield { type: 'usage', usage: { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens, totalTokens: chunk.usage.total_tokens } };
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          const delta = choice.delta ?? {};
          if (delta.content) yield { type: 'text', delta: delta.content };
          for (const tc of delta.tool_calls ?? []) calls.add(tc);
          if (choice.finish_reason) {
            finish = choice.finish_reason;
            yield* calls.drain();
          }
        }
      } catch (err) {
        throw timedOut ?? this.mapError(err, signal);
      }
    } finally {
      clearTimeout(timer);
      ac.dispose();
    }
    // The openai package ends the loop silently when aborted mid-stream.
    if (timedOut) throw timedOut;
    if (signal?.aborted) throw new AbortError('LLM request aborted');
    // A stream that ended without a finish_reason still delivers the calls it carried.
    if (calls.size) {
      finish ??= 'tool_calls';
      yield* calls.drain();
    }
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
      return statusError(provider, status, detail, err.code);
    }
    if (err instanceof SyntaxError || /JSON/.test(String((err as Error)?.message))) return new ProtocolError(`${provider} sent a malformed stream event: ${(err as Error).message}`, { provider, cause: err });
    return new ProviderError(`${provider} error: ${(err as Error)?.message ?? String(err)}`, { provider, cause: err });
  }
}

type Fetch = (url: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
type ToolCallDelta = OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall;

/** True when a chunk carries something of the reply (not just the opening role or an empty text). */
function carriesToken(chunk: OpenAI.Chat.Completions.ChatCompletionChunk): boolean {
  if (chunk.usage) return true;
  const choice = chunk.choices?.[0];
  if (!choice) return false;
  if (choice.finish_reason) return true;
  // content, tool_calls, refusal, and non-standard fields such as reasoning_content.
  return Object.entries(choice.delta ?? {}).some(([k, v]) => k !== 'role' && v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0));
}

/** Resolves or rejects like `p`, or rejects with an `AbortError` as soon as `signal` aborts. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortError('LLM request aborted'));
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortError('LLM request aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // A late failure of the abandoned request is nobody's concern.
  p.catch(() => {});
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** A tool call being assembled; `index` is the stream's position of the call, when it gives one. */
interface PartialCall {
  id: string;
  name: string;
  arguments: string;
  index?: number;
}

/**
 * Assembles streamed tool-call fragments into calls. A fragment belongs to the call of its
 * `index` (OpenAI), else of its `id` (Gemini's compatible endpoint sends no index), else to the
 * last call opened (argument pieces with neither). A name is assigned, never appended (servers
 * that repeat it would double it). Calls come out in the model's order: by `index` when every
 * call has one (a server may interleave the calls' fragments, and open call 1 before call 0),
 * else in the order they were first seen.
 */
class ToolCallAssembler {
  private readonly calls: PartialCall[] = [];
  private readonly byIndex = new Map<number, PartialCall>();
  private readonly byId = new Map<string, PartialCall>();

  constructor(private readonly provider: string) {}

  get size(): number {
    return this.calls.length;
  }

  add(tc: ToolCallDelta): void {
    const index = typeof tc.index === 'number' ? tc.index : undefined;
    let cur = index !== undefined ? this.byIndex.get(index) : tc.id ? this.byId.get(tc.id) : this.calls[this.calls.length - 1];
    // The same index with another id is a new call (servers that number every call 0).
    if (cur && tc.id && cur.id && tc.id !== cur.id) cur = this.byId.get(tc.id);
    if (!cur) {
      cur = { id: '', name: '', arguments: '' };
      this.calls.push(cur);
    }
    if (index !== undefined) {
      this.byIndex.set(index, cur);
      cur.index ??= index;
    }
    if (tc.id) {
      cur.id = tc.id;
      this.byId.set(tc.id, cur);
    }
    if (tc.function?.name) cur.name = tc.function.name;
    if (tc.function?.arguments) cur.arguments += tc.function.arguments;
  }

  /** The calls collected so far, in the model's order (see the class); the assembler is emptied. */
  *drain(): Generator<LlmEvent> {
    const calls = this.calls.splice(0);
    this.byIndex.clear();
    this.byId.clear();
    // A stable sort: calls that share an index (servers that number every call 0) keep their order.
    if (calls.every((c) => c.index !== undefined)) calls.sort((a, b) => a.index! - b.index!);
    for (const c of calls) {
      if (!c.name) throw new ProtocolError(`${this.provider} sent a tool call without a name`, { provider: this.provider });
      yield { type: 'tool_call', call: { id: c.id || `call_${c.name}`, name: c.name, arguments: c.arguments } };
    }
  }
}
