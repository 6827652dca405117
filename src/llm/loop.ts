import { AbortError, ToolError } from '../errors';
import { type Tool, type ToolOutcome, outcomeContent, runTool } from './tools';
import type { ChatMessage, LlmEvent, LlmStream, RespondOptions, ToolCall } from './types';

/** Hooks around each tool call. */
export interface ToolHooks {
  /**
   * Called before a tool runs. Return `{ veto: reason }` to refuse the call (the model is told),
   * `{ result }` to answer without running it, or nothing to run it.
   */
  beforeToolCall?: ((call: ToolCall) => void | {
    /** Why the call is refused: the model is told. */
    veto: string;
  } | {
    /** The result to give the model instead of running the tool. */
    result: unknown;
  } | Promise<void | {
    /** Why the call is refused: the model is told. */
    veto: string;
  } | {
    /** The result to give the model instead of running the tool. */
    result: unknown;
  }>) | undefined;
  /** Called after each tool call with its outcome (a vetoed call is `ok: false`). */
  afterToolCall?: ((call: ToolCall, outcome: ToolOutcome) => void | Promise<void>) | undefined;
  /**
   * Rewrites what the model is told of a failed call (an exception's text can hold hosts, queries
   * or customer data): return the text to send instead of `error.message`. If it throws, the model
   * is told only that the tool failed.
   */
  toolErrorMessage?: ((error: ToolError, call: ToolCall) => string | Promise<string>) | undefined;
}

/**
 * Runs one tool call with its hooks: `beforeToolCall` may veto it or answer for it, then the
 * arguments are validated and the handler runs (see {@link runTool}), then `afterToolCall` sees
 * the outcome.
 */
export async function callTool(tools: readonly Tool<any, unknown>[], call: ToolCall, hooks: ToolHooks, signal?: AbortSignal): Promise<ToolOutcome> {
  const before = await hooks.beforeToolCall?.(call);
  let outcome: ToolOutcome;
  if (before && 'veto' in before) outcome = { ok: false, error: new ToolError(call.name, `The call to '${call.name}' was refused: ${before.veto}`) };
  else if (before && 'result' in before) outcome = { ok: true, result: before.result };
  else outcome = await runTool(tools, call, signal);
  if (!outcome.ok && hooks.toolErrorMessage) {
    let message: string;
    try {
      message = await hooks.toolErrorMessage(outcome.error, call);
    } catch {
      message = `The tool '${call.name}' failed.`;
    }
    outcome = { ...outcome, message };
  }
  await hooks.afterToolCall?.(call, outcome);
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
    for await (const ev of llm.respond(history, { signal: options.signal, headers: options.headers, tools: tools.length && step < maxSteps - 1 ? tools : undefined })) {
      if (ev.type === 'tool_call') calls.push(ev.call);
      if (ev.type === 'text') text += ev.delta;
      yield ev;
    }
    if (!calls.length || step === maxSteps - 1) return; // no tools were offered on the last step
    history.push({ role: 'assistant', content: text || null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) });
    yield { type: 'tools_started', calls };
    const outcomes = await Promise.all(calls.map((call) => callTool(tools, call, options, options.signal)));
    if (options.signal?.aborted) throw new AbortError('Turn aborted during a tool call');
    for (let i = 0; i < calls.length; i++) {
      history.push({ role: 'tool', tool_call_id: calls[i]!.id, content: outcomeContent(outcomes[i]!) });
      yield { type: 'tool_result', call: calls[i]!, outcome: outcomes[i]! };
    }
  }
}
