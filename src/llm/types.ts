import type OpenAI from 'openai';
import { inspectSafely } from '../provider';
import type { JsonSchema } from './schema';

/** A chat message, exactly as the chat-completions API takes it. */
export type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** A complete tool call from the model. */
export interface ToolCall {
  /** The call's id, as the model gave it (its result is sent back under the same id). */
  id: string;
  /** The tool's name. */
  name: string;
  /** The arguments as the model sent them (a JSON string). */
  arguments: string;
}

/** Token usage of one request. */
export interface LlmUsage {
  /** Tokens of the prompt (input). */
  promptTokens: number;
  /** Tokens of the reply (output). */
  completionTokens: number;
  /** Both together. */
  totalTokens: number;
}

/** What a streaming LLM reply yields. */
export type LlmEvent =
  | {
      /** A piece of the reply's text. */
      type: 'text';
      /** The new text. */
      delta: string;
    }
  | {
      /** A complete tool call (its arguments all received). */
      type: 'tool_call';
      /** The call. */
      call: ToolCall;
    }
  | {
      /** The request's token usage. */
      type: 'usage';
      /** The counts. */
      usage: LlmUsage;
    }
  | {
      /** The reply ended. */
      type: 'finish';
      /** Why, as the provider says it (`stop`, `tool_calls`, `length`...). */
      reason: string;
    };

/** A tool's declaration as the model sees it. */
export interface ToolSpec {
  /** The name the model calls it by (letters, digits, `_` and `-`). */
  name: string;
  /** What the tool does and when to use it: the model reads this to decide. */
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonSchema;
}

/** Options of one reply. */
export interface RespondOptions {
  /** Cancels the request at once. */
  signal?: AbortSignal | undefined;
  /** Tools the model may call. */
  tools?: readonly ToolSpec[] | undefined;
  /** Extra HTTP headers for this request (e.g. a cost-tracking tag). */
  headers?: Record<string, string> | undefined;
}

/**
 * A streaming chat model: extend this class to add a provider that is not OpenAI-compatible
 * (`class MyLlm extends LlmStream`). Every built-in LLM extends it; a plain object of the same
 * shape is accepted wherever an `LlmStream` is. `util.inspect` of an instance shows its provider
 * and model only, never a key.
 */
export abstract class LlmStream {
  static {
    inspectSafely(this);
  }

  /** Provider name used in errors and metrics. */
  abstract readonly provider: string;
  /** Model id. */
  abstract readonly model: string;
  /** System prompt prepended to every request, if any. */
  abstract readonly instructions?: string | undefined;
  /** Streams a reply to `history`. */
  abstract respond(history: readonly ChatMessage[], options?: RespondOptions): AsyncIterable<LlmEvent>;
}

/** The text deltas of a reply, for piping into `sentences()` and a `TtsStream`. */
export async function* textOf(events: AsyncIterable<LlmEvent>): AsyncGenerator<string> {
  for await (const ev of events) if (ev.type === 'text') yield ev.delta;
}
