import { AbortError, ToolError, isAbortError } from '../errors';
import type { JsonSchema } from './schema';
import { validateSchema } from './schema';
import { type StandardSchemaV1, type StandardToolSchema, checksOwnArguments, hasStandardProps, validateStandard, wireSchemaOf, withOwnValidation } from './standard-schema';
import type { ToolCall, ToolSpec } from './types';
import { checkOptionNames } from '../provider';

/** What a tool handler receives besides its arguments. */
export interface ToolContext {
  /** Aborted when the turn is interrupted or the tool times out. */
  signal: AbortSignal;
  /** The model's id for this call. */
  callId: string;
}

/** A tool the model can call: its declaration and its handler. */
export interface Tool<Args = Record<string, unknown>, Result = unknown> extends ToolSpec {
  /** Runs the tool. Arguments are already validated against `parameters`. */
  execute(args: Args, context: ToolContext): Result | Promise<Result>;
  /** Longest the handler may run (default 10 000 ms). */
  timeoutMs?: number;
}

/** The fields {@link tool} takes. */
const TOOL_OPTIONS: Readonly<Record<keyof Tool, true>> = { name: true, description: true, parameters: true, execute: true, timeoutMs: true };

/** What {@link tool} takes when `parameters` is a schema of a Standard Schema library. */
export type StandardToolDefinition<Schema extends StandardToolSchema, Result = unknown> = Omit<Tool<StandardSchemaV1.InferOutput<Schema>, Result>, 'parameters'> & {
  /** A schema that implements Standard Schema and Standard JSON Schema (zod 4.2+, arktype 2.1.28+, valibot through `toStandardJsonSchema()`). */
  parameters: Schema;
};

/**
 * Declares a tool whose `parameters` are a schema of any library that implements Standard Schema
 * and Standard JSON Schema (zod 4.2+, arktype 2.1.28+, valibot through `toStandardJsonSchema()` of
 * `@valibot/to-json-schema`). The model is sent the schema's JSON Schema (its input side); the
 * arguments are checked with the library's own validation and `execute` receives its output,
 * typed by inference. The library's issues, with their paths, go back to the model as the tool's
 * error (the session goes on). Throws a `ToolError` when the schema cannot be converted.
 */
export function tool<Schema extends StandardToolSchema, Result = unknown>(definition: StandardToolDefinition<Schema, Result>): Tool<StandardSchemaV1.InferOutput<Schema>, Result>;
/** Declares a tool. `parameters` is a JSON Schema object, as in the chat-completions API. */
export function tool<Args = Record<string, unknown>, Result = unknown>(definition: Tool<Args, Result> & { parameters: JsonSchema & { '~standard'?: never } }): Tool<Args, Result>;
export function tool(definition: Tool<any, unknown> | StandardToolDefinition<StandardToolSchema>): Tool<any, unknown> {
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(definition.name)) throw new ToolError(definition.name, `Tool name '${definition.name}' must be 1-64 letters, digits, _ or -`);
  // Plain JavaScript gets no compiler check: a `handler` or `timeout` would be ignored, and the
  // tool would fail only when the model calls it.
  checkOptionNames(`tool '${definition.name}'`, definition, TOOL_OPTIONS);
  if (typeof definition.execute !== 'function') throw new ToolError(definition.name, `Tool '${definition.name}' needs an execute(args, { signal }) function`);
  const schema: unknown = definition.parameters;
  if (!hasStandardProps(schema)) return definition as Tool<any, unknown>;
  const parameters = wireSchemaOf(definition.name, schema);
  const { name } = definition;
  return withOwnValidation({
    ...definition,
    parameters,
    execute: async (args: unknown, context: ToolContext) => {
      const checked = await validateStandard(schema as StandardSchemaV1, args);
      if (!checked.ok) throw new ToolError(name, `Invalid arguments for '${name}': ${checked.problems.join('; ')}`);
      return definition.execute(checked.value, context);
    },
  });
}

/** The outcome of one tool call. */
export type ToolOutcome =
  | {
      /** The tool ran. */
      ok: true;
      /** What its handler returned (sent to the model as JSON). */
      result: unknown;
    }
  | {
      /** The call failed: bad arguments, unknown tool, a throwing handler, a timeout or a veto. */
      ok: false;
      /** Why. */
      error: ToolError;
      /** What the model is told of the failure, when a `toolErrorMessage` hook rewrote it (default: the error's message). */
      message?: string;
    };

/**
 * Parses and validates a call's arguments, then runs the handler with a timeout. Never throws:
 * bad arguments, an unknown tool, a throwing handler or a timeout become a {@link ToolError}
 * outcome (the model is told, the session goes on).
 */
export async function runTool(tools: readonly Tool<any, unknown>[], call: ToolCall, signal?: AbortSignal): Promise<ToolOutcome> {
  const t = tools.find((x) => x.name === call.name);
  if (!t) return { ok: false, error: new ToolError(call.name, `Unknown tool '${call.name}'`) };
  if (typeof call.arguments !== 'string') return { ok: false, error: new ToolError(call.name, `Arguments of '${call.name}' must be a JSON string, got ${typeof call.arguments}`) };
  let args: unknown;
  try {
    args = call.arguments.trim() ? JSON.parse(call.arguments) : {};
  } catch {
    return { ok: false, error: new ToolError(call.name, `Arguments of '${call.name}' are not valid JSON: ${call.arguments.slice(0, 200)}`) };
  }
  const problems = checksOwnArguments(t) ? [] : validateSchema(t.parameters, args);
  if (problems.length) return { ok: false, error: new ToolError(call.name, `Invalid arguments for '${call.name}': ${problems.join('; ')}`) };
  if (signal?.aborted) return { ok: false, error: new ToolError(call.name, `Tool '${call.name}' was cancelled`, { cause: signal.reason }) };
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timeoutMs = t.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => t.execute(args as Record<string, unknown>, { signal: ac.signal, callId: call.id })),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ToolError(call.name, `Tool '${call.name}' did not return within ${timeoutMs} ms`, { retryable: true })), timeoutMs);
        // An interrupted turn does not wait for a handler that ignores its signal.
        ac.signal.addEventListener('abort', () => reject(new AbortError('Tool call aborted')), { once: true });
      }),
    ]);
    return { ok: true, result };
  } catch (err) {
    if (err instanceof ToolError) ac.abort(err);
    if (isAbortError(err) && signal?.aborted) return { ok: false, error: new ToolError(call.name, `Tool '${call.name}' was cancelled`, { cause: err }) };
    return { ok: false, error: err instanceof ToolError ? err : new ToolError(call.name, `Tool '${call.name}' failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The text a tool outcome is reported to the model as. */
export function outcomeContent(outcome: ToolOutcome): string {
  if (!outcome.ok) return JSON.stringify({ error: outcome.message ?? outcome.error.message });
  return typeof outcome.result === 'string' ? outcome.result : JSON.stringify(outcome.result ?? null);
}
