import { AbortError, ToolError } from '../errors';
import { type Tool, type ToolOutcome, outcomeContent, runTool } from './tools';
import { withInstructions } from './history';
import type { ChatMessage, LlmEvent, LlmStream, LlmUsage, RespondOptions, ToolCall, ToolSpec } from './types';

/** What a tool hook receives besides the call. */
export interface ToolHookContext {
  /** Aborted when the turn is interrupted or the hook's deadline passes: stop waiting then. */
  signal: AbortSignal;
  /** How long the hook may take, in milliseconds (its deadline). */
  timeoutMs: number;
}

/** What `beforeToolCall` may return: a veto, a result given instead of running the tool, or nothing. */
export type BeforeToolCallResult = void | {
  /** Why the call is refused: the model is told. */
  veto: string;
} | {
  /** The result to give the model instead of running the tool. */
  result: unknown;
};

/**
 * Hooks around each tool call. Each call of a hook has a deadline (`hookTimeoutMs`, else the
 * tool's `timeoutMs`, 10 000 ms by default) and gets the turn's signal: a hook that throws, or
 * has not settled by its deadline or when the turn is interrupted, makes the call a
 * {@link ToolError} outcome (the model is told the tool failed; the call goes on).
 */
export interface ToolHooks {
  /**
   * Called before a tool runs. Return `{ veto: reason }` to refuse the call (the model is told),
   * `{ result }` to answer without running it, or nothing to run it.
   */
  beforeToolCall?: ((call: ToolCall, context: ToolHookContext) => BeforeToolCallResult | Promise<BeforeToolCallResult>) | undefined;
  /** Called after each tool call with its outcome (a vetoed call is `ok: false`). */
  afterToolCall?: ((call: ToolCall, outcome: ToolOutcome, context: ToolHookContext) => void | Promise<void>) | undefined;
  /**
   * Rewrites what the model is told of a failed call (an exception's text can hold hosts, queries
   * or customer data): return the text to send instead of `error.message`. If it throws or misses
   * its deadline, the model is told only that the tool failed.
   */
  toolErrorMessage?: ((error: ToolError, call: ToolCall, context: ToolHookContext) => string | Promise<string>) | undefined;
  /** Longest each hook call may take, in milliseconds (default: the tool's `timeoutMs`, else 10 000). */
  hookTimeoutMs?: number | undefined;
}

type HookName = 'beforeToolCall' | 'afterToolCall' | 'toolErrorMessage';

/**
 * Runs one hook with its deadline and the turn's signal; a hook that throws, misses its deadline or
 * is still running when the turn is interrupted rejects with a {@link ToolError}.
 */
async function runHook<T>(name: HookName, call: ToolCall, timeoutMs: number, signal: AbortSignal | undefined, hook: (context: ToolHookContext) => T | Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(() => hook({ signal: ac.signal, timeoutMs })),
      new Promise<never>((_, reject) => {
        const stop = (err: ToolError) => {
          ac.abort(err);
          reject(err);
        };
        onAbort = () => stop(new ToolError(call.name, `The ${name} hook of '${call.name}' was cancelled: the turn was interrupted`, { cause: signal?.reason }));
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(() => stop(new ToolError(call.name, `The ${name} hook of '${call.name}' did not return within ${timeoutMs} ms`, { retryable: true })), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw err instanceof ToolError && err.tool === call.name ? err : new ToolError(call.name, `The ${name} hook of '${call.name}' threw: ${String((err as Error)?.message ?? err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** A failed hook as the call's outcome: the model is told only that the tool failed. */
function hookFailed(call: ToolCall, err: unknown): ToolOutcome {
  const error = err instanceof ToolError ? err : new ToolError(call.name, `The tool '${call.name}' failed: ${String((err as Error)?.message ?? err)}`, { cause: err });
  return { ok: false, error, message: `The tool '${call.name}' failed.` };
}

/** `outcome`, or a {@link ToolError} outcome when its result cannot be sent to the model as JSON (a BigInt, a cycle, a throwing `toJSON`). */
function sendable(call: ToolCall, outcome: ToolOutcome): ToolOutcome {
  if (!outcome.ok) return outcome;
  try {
    outcomeContent(outcome);
    return outcome;
  } catch (err) {
    return { ok: false, error: new ToolError(call.name, `The result of '${call.name}' cannot be sent to the model as JSON: ${String((err as Error)?.message ?? err)}`, { cause: err }) };
  }
}

/** A call's arguments as the chat-completions API takes them back: a string (a provider may have sent an object). */
function argumentsText(args: unknown): string {
  if (typeof args === 'string') return args;
  try {
    return JSON.stringify(args) ?? '{}';
  } catch {
    return '{}';
  }
}

/**
 * Runs one tool call with its hooks: `beforeToolCall` may veto it or answer for it, then the
 * arguments are validated and the handler runs (see {@link runTool}), then `afterToolCall` sees
 * the outcome. Never throws: every failure (a hook that throws or misses its deadline, a result
 * that is not JSON) is a {@link ToolError} outcome.
 */
export async function callTool(tools: readonly Tool<any, unknown>[], call: ToolCall, hooks: ToolHooks, signal?: AbortSignal): Promise<ToolOutcome> {
  const timeoutMs = hooks.hookTimeoutMs ?? tools.find((t) => t.name === call.name)?.timeoutMs ?? 10_000;
  let outcome: ToolOutcome;
  try {
    const before = hooks.beforeToolCall && (await runHook('beforeToolCall', call, timeoutMs, signal, (c) => hooks.beforeToolCall!(call, c)));
    if (before && typeof before === 'object' && 'veto' in before) outcome = { ok: false, error: new ToolError(call.name, `The call to '${call.name}' was refused: ${before.veto}`) };
    else if (before && typeof before === 'object' && 'result' in before) outcome = { ok: true, result: before.result };
    else outcome = await runTool(tools, call, signal);
    outcome = sendable(call, outcome);
  } catch (err) {
    outcome = hookFailed(call, err);
  }
  if (!outcome.ok && outcome.message === undefined && hooks.toolErrorMessage) {
    const error = outcome.error;
    let message: string;
    try {
      message = String(await runHook('toolErrorMessage', call, timeoutMs, signal, (c) => hooks.toolErrorMessage!(error, call, c)));
    } catch {
      message = `The tool '${call.name}' failed.`;
    }
    outcome = { ...outcome, message };
  }
  if (hooks.afterToolCall) {
    const seen = outcome;
    try {
      await runHook('afterToolCall', call, timeoutMs, signal, (c) => hooks.afterToolCall!(call, seen, c));
    } catch (err) {
      outcome = hookFailed(call, err);
    }
  }
  return outcome;
}

/** Events of a multi-step tool loop: the LLM's events plus tool outcomes. */
export type LoopEvent =
  | LlmEvent
  | {
      /** A tool call finished. */
      type: 'tool_result';
      /** The call. */
      call: ToolCall;
      /** Its result or error. */
      outcome: ToolOutcome;
    }
  | {
      /** The model asked for tools; they run now (in parallel when several). */
      type: 'tools_started';
      /** The calls. */
      calls: ToolCall[];
    };

/** Options of {@link runToolLoop}. */
export interface ToolLoopOptions extends Omit<RespondOptions, 'tools'>, ToolHooks {
  /** Tools the model may call, with their handlers. */
  tools?: readonly Tool<any, unknown>[] | undefined;
  /** Most LLM requests in one turn (default 5). */
  maxSteps?: number | undefined;
  /**
   * Called when a request ends before the provider reported its usage (aborted by a barge-in or
   * a dropped speculative reply, or failed mid-stream), with an estimate of it: its prompt was
   * sent and is billed all the same (a request refused before it streamed, such as an HTTP
   * error, is not counted). About 4 characters a token: the prompt's messages (with the
   * model's own instructions) and tool declarations as JSON; the text and tool calls received.
   */
  onUsageEstimate?: ((usage: LlmUsage) => void) | undefined;
}

/** About 4 characters of JSON or text a token. */
const tokensOf = (chars: number) => Math.ceil(chars / 4);

/** An estimate of a request's usage when the provider sent none: see {@link ToolLoopOptions.onUsageEstimate}. */
export function estimateUsage(llm: Pick<LlmStream, 'instructions'>, history: readonly ChatMessage[], tools: readonly ToolSpec[] | undefined, text: string, calls: readonly ToolCall[]): LlmUsage {
  const promptTokens = tokensOf(JSON.stringify(withInstructions(history, llm.instructions)).length + (tools?.length ? JSON.stringify(tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }))).length : 0));
  const completionTokens = tokensOf(text.length + calls.reduce((n, c) => n + c.name.length + argumentsText(c.arguments).length, 0));
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/**
 * Streams a reply, running tool calls as the model makes them (in parallel when several) and
 * continuing the reply with their results, up to `maxSteps` requests. The assistant's tool-call
 * messages and the tool results are appended to `history`; the final text is not (the caller
 * records what was actually said).
 */
export async function* runToolLoop(llm: LlmStream, history: ChatMessage[], options: ToolLoopOptions = {}): AsyncGenerator<LoopEvent> {
  const tools = options.tools ?? [];
  const maxSteps = options.maxSteps ?? 5;
  for (let step = 0; step < maxSteps; step++) {
    const calls: ToolCall[] = [];
    let text = '';
    if (options.signal?.aborted) throw new AbortError('Turn aborted before its LLM request');
    const offered = tools.length && step < maxSteps - 1 ? tools : undefined;
    let received = false;
    let reported = false;
    let ended = false;
    try {
      for await (const ev of llm.respond(history, { signal: options.signal, headers: options.headers, tools: offered })) {
        received = true;
        if (ev.type === 'tool_call') calls.push(ev.call);
        if (ev.type === 'text') text += ev.delta;
        if (ev.type === 'usage') reported = true;
        yield ev;
      }
      ended = true;
    } finally {
      // Cut short (aborted, failed mid-stream, the caller stopped reading): the request is billed all
      // the same. One refused before it streamed (an HTTP error) is not.
      if (!ended && !reported && (received || options.signal?.aborted)) options.onUsageEstimate?.(estimateUsage(llm, history, offered, text, calls));
    }
    if (!calls.length || step === maxSteps - 1) return; // no tools were offered on the last step
    yield { type: 'tools_started', calls };
    const outcomes = await Promise.all(calls.map((call) => callTool(tools, call, options, options.signal).catch((err: unknown) => hookFailed(call, err))));
    if (options.signal?.aborted) throw new AbortError('Turn aborted during a tool call');
    // The assistant's calls and their results go into history together, or not at all.
    history.push(
      { role: 'assistant', content: text || null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: argumentsText(c.arguments) } })) },
      ...calls.map((c, i): ChatMessage => ({ role: 'tool', tool_call_id: c.id, content: outcomeContent(outcomes[i]!) })),
    );
    for (let i = 0; i < calls.length; i++) yield { type: 'tool_result', call: calls[i]!, outcome: outcomes[i]! };
  }
}
