import { AssertionError } from 'node:assert';
import { isDeepStrictEqual, inspect } from 'node:util';
import { ProtocolError, TimeoutError } from '../errors';
import type { ChatMessage, LlmStream, ToolSpec } from '../llm/types';
import { abortable, linkedAbort } from '../streams/channel';
import type { Agent } from '../session/agent';
import type { AgentEvent, HangUpReason } from './text-session';

/**
 * What a value is expected to be: a `RegExp` (tested against strings), a predicate, an object
 * (each of its keys matched recursively; other keys of the actual value are ignored), an array
 * (same length, each item matched), or any other value (deep equality).
 */
export type Matcher = unknown;

/** Whether `actual` matches `expected` (see {@link Matcher}). */
export function matches(actual: unknown, expected: Matcher): boolean {
  if (expected instanceof RegExp) return typeof actual === 'string' && expected.test(actual);
  if (typeof expected === 'function') return Boolean((expected as (v: unknown) => unknown)(actual));
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(actual[i], e));
  if (expected && typeof expected === 'object' && Object.getPrototypeOf(expected) === Object.prototype) {
    if (!actual || typeof actual !== 'object') return false;
    return Object.entries(expected).every(([k, v]) => matches((actual as Record<string, unknown>)[k], v));
  }
  return isDeepStrictEqual(actual, expected);
}

const show = (v: unknown) => inspect(v, { depth: 4, breakLength: Infinity, compact: true });

/** One line describing an event, as failure messages list them. */
export function describeEvent(ev: AgentEvent): string {
  switch (ev.type) {
    case 'tool_call':
      return `tool_call ${ev.name} ${show(ev.arguments)}`;
    case 'tool_result':
      return ev.ok ? `tool_result ${ev.name} ok ${show(ev.result)}` : `tool_result ${ev.name} failed: ${ev.error?.message}`;
    case 'message':
      return `message ${show(ev.text)}${ev.agent !== undefined ? ` (${ev.agent})` : ''}`;
    case 'handoff':
      return `handoff ${ev.from ?? '(session)'} → ${ev.to}${ev.reason ? ` (${show(ev.reason)})` : ''}`;
    case 'hang_up':
      return `hang_up (${ev.reason})`;
    case 'error':
      return `error ${ev.error.code}: ${ev.error.message}`;
  }
}

/**
 * Fluent assertions on a turn's events, in order: each call checks the next event and moves on.
 * A failed check throws a `node:assert` `AssertionError` whose message lists every event of the
 * turn with the position reached, so it reads the same under vitest, jest and `node:test`.
 *
 * ```ts
 * turn.expect.toolCall('lookup_order', { order_id: 'A-17' }).toolResult({ status: 'shipped' }).message(/shipped/).noMoreEvents();
 * ```
 */
export class TurnExpectation {
  private at = 0;

  /**
   * Made by `TextSession.run()`; `turn.expect` is one.
   * @param userText what the user said (shown in failure messages)
   * @param events the turn's events
   */
  constructor(private readonly userText: string, private readonly events: readonly AgentEvent[]) {}

  /** Index of the next event to check. */
  get position(): number {
    return this.at;
  }

  /** The next event is a tool call to `name` (any tool when omitted) whose arguments match `args`. */
  toolCall(name?: string, args?: Matcher): this {
    const what = `a tool call${name ? ` to ${name}` : ''}${args === undefined ? '' : ` with arguments matching ${show(args)}`}`;
    return this.next(what, (ev) => ev.type === 'tool_call' && (name === undefined || ev.name === name) && (args === undefined || matches(ev.arguments, args)));
  }

  /** The next event is a successful tool result whose value matches `result` (any value when omitted). */
  toolResult(result?: Matcher): this {
    return this.next(`a successful tool result${result === undefined ? '' : ` matching ${show(result)}`}`, (ev) => ev.type === 'tool_result' && ev.ok && (result === undefined || matches(ev.result, result)));
  }

  /** The next event is a failed tool result whose error message matches `message` (any when omitted). */
  toolError(message?: string | RegExp): this {
    return this.next(`a failed tool result${message === undefined ? '' : ` with an error matching ${show(message)}`}`, (ev) => ev.type === 'tool_result' && !ev.ok && (message === undefined || textMatches(ev.error?.message ?? '', message)));
  }

  /** The next event is something the agent says: exactly `text` when a string, or matching a RegExp or predicate. */
  message(text?: string | RegExp | ((text: string) => boolean)): this {
    return this.next(`a message${text === undefined ? '' : ` ${typeof text === 'string' ? 'equal to' : 'matching'} ${show(text)}`}`, (ev) => ev.type === 'message' && (text === undefined || textMatches(ev.text, text)));
  }

  /**
   * The next event is a handoff to `to` (an agent or its name; any agent when omitted) whose
   * reason matches `reason` (any when omitted).
   */
  handoff(to?: Agent | string, reason?: string | RegExp): this {
    const name = typeof to === 'string' || to === undefined ? to : to.name;
    return this.next(`a handoff${name === undefined ? '' : ` to ${name}`}${reason === undefined ? '' : ` with a reason matching ${show(reason)}`}`, (ev) => ev.type === 'handoff' && (name === undefined || ev.to === name) && (reason === undefined || textMatches(ev.reason ?? '', reason)));
  }

  /** The next event is the agent ending the call (for `reason` when given). */
  hangUp(reason?: HangUpReason): this {
    return this.next(`a hang-up${reason ? ` (${reason})` : ''}`, (ev) => ev.type === 'hang_up' && (reason === undefined || ev.reason === reason));
  }

  /** The next event is a provider error whose message matches `message` (any when omitted). */
  error(message?: string | RegExp): this {
    return this.next(`an error${message === undefined ? '' : ` matching ${show(message)}`}`, (ev) => ev.type === 'error' && (message === undefined || textMatches(ev.error.message, message)));
  }

  /** Skips `count` events, whatever they are. */
  skip(count = 1): this {
    if (this.at + count > this.events.length) this.fail(`${count} more event(s) to skip`);
    this.at += count;
    return this;
  }

  /** Moves past the first remaining event of `type`, failing if there is none. */
  skipTo(type: AgentEvent['type']): this {
    const i = this.events.findIndex((ev, j) => j >= this.at && ev.type === type);
    if (i < 0) this.fail(`a ${type} event later in the turn`);
    this.at = i + 1;
    return this;
  }

  /** Some event of the turn, in any position, is a tool call to `name` with arguments matching `args`. The position does not move. */
  containsToolCall(name: string, args?: Matcher): this {
    if (!this.events.some((ev) => ev.type === 'tool_call' && ev.name === name && (args === undefined || matches(ev.arguments, args)))) {
      this.fail(`a tool call to ${name}${args === undefined ? '' : ` with arguments matching ${show(args)}`}`, false);
    }
    return this;
  }

  /** Some message of the turn, in any position, matches `text`. The position does not move. */
  containsMessage(text: string | RegExp | ((text: string) => boolean)): this {
    if (!this.events.some((ev) => ev.type === 'message' && textMatches(ev.text, text))) this.fail(`a message matching ${show(text)}`, false);
    return this;
  }

  /** There are no events left. */
  noMoreEvents(): void {
    if (this.at < this.events.length) this.fail('no more events');
  }

  /**
   * The next event is a message that `llm`, as a judge, finds meets `criterion`, a plain-language
   * requirement ("asks for the order number politely"). Resolves with the expectation, moved past
   * the message; rejects with an `AssertionError` that gives the judge's reason when it does not.
   * The judge is asked to call a `verdict({pass, reason})` tool (a JSON answer
   * `{"pass": ..., "reason": ...}` is taken too); see {@link judgeReply}.
   *
   * ```ts
   * (await turn.expect.toolCall('lookup_order').toolResult().judge(judge, 'says when the order arrives')).noMoreEvents();
   * ```
   */
  async judge(llm: LlmStream, criterion: string, options: JudgeOptions = {}): Promise<this> {
    const what = `a message that meets ${show(criterion)}`;
    const ev = this.events[this.at];
    if (ev?.type !== 'message') this.fail(what);
    const verdict = await judgeReply(llm, criterion, ev.text, { ...options, userText: options.userText ?? this.userText });
    if (!verdict.pass) this.fail(what, true, `the judge (${llm.provider} ${llm.model}) said it does not: ${verdict.reason.replace(/[.\s]+$/, '') || '(no reason given)'}`);
    this.at++;
    return this;
  }

  private next(what: string, ok: (ev: AgentEvent) => boolean): this {
    const ev = this.events[this.at];
    if (!ev || !ok(ev)) this.fail(what);
    this.at++;
    return this;
  }

  private fail(expected: string, positional = true, because?: string): never {
    const ev = this.events[this.at];
    const got = because ? `, but ${because}` : !positional ? '' : ev ? `, but it is ${describeEvent(ev)}` : ', but there are no more events';
    const lines = this.events.map((e, i) => `${positional && i === this.at ? '>' : ' '} #${i} ${describeEvent(e)}`);
    if (positional && this.at >= this.events.length) lines.push(`> #${this.at} (end)`);
    const head = positional ? `Expected event #${this.at} to be ${expected}${got}` : `Expected the turn to contain ${expected}`;
    throw new AssertionError({
      message: `${head}.\nEvents of the turn after ${show(this.userText)}:\n${lines.join('\n')}`,
      actual: ev,
      expected,
      operator: 'expect',
    });
  }
}

function textMatches(text: string, expected: string | RegExp | ((text: string) => boolean)): boolean {
  if (typeof expected === 'string') return text.trim() === expected.trim();
  return matches(text, expected);
}

/** Options of {@link judgeReply} and {@link TurnExpectation.judge}. */
export interface JudgeOptions {
  /** What the user said, given to the judge as context (`judge()`: the turn's utterance). */
  userText?: string | undefined;
  /** Cancels the judge's request. */
  signal?: AbortSignal | undefined;
  /** Longest the judge may take to give its verdict (default 60 000 ms): a `TimeoutError` after it. */
  timeoutMs?: number | undefined;
}

/** A judge's decision on a reply. */
export interface Verdict {
  /** Whether the reply meets the criterion. */
  pass: boolean;
  /** Why, in one sentence (for a failure: what is missing or wrong). */
  reason: string;
}

const JUDGE_INSTRUCTIONS =
  'You judge the replies of a voice agent in an automated test. You are given what the user said, the agent\'s reply and a criterion. ' +
  'Decide strictly whether the reply meets the criterion; judge only the criterion, not style or anything else. ' +
  'Answer by calling the verdict tool once, with pass (true or false) and reason (one sentence: why; for a failure, what is missing or wrong).';

/** The tool the judge answers with. */
export const VERDICT_TOOL: ToolSpec = {
  name: 'verdict',
  description: 'Gives the verdict: whether the reply meets the criterion, and why.',
  parameters: {
    type: 'object',
    properties: { pass: { type: 'boolean', description: 'true when the reply meets the criterion' }, reason: { type: 'string', description: 'One sentence: why' } },
    required: ['pass', 'reason'],
    additionalProperties: false,
  },
};

/** A verdict from a `verdict` call's arguments or a JSON answer, or undefined. */
function verdictOf(json: string): Verdict | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || typeof (v as Verdict).pass !== 'boolean') return undefined;
  const reason = (v as { reason?: unknown }).reason;
  return { pass: (v as Verdict).pass, reason: typeof reason === 'string' ? reason : '' };
}

/**
 * Asks `llm` whether `reply` meets `criterion`. The judge is offered one tool, `verdict({pass,
 * reason})`, and asked to call it; a text answer holding a JSON object `{"pass": ..., "reason":
 * ...}` is taken too. Rejects with a `ProtocolError` when the judge gives neither (never a pass by
 * default), a `TimeoutError` past `timeoutMs`, or the LLM's own error.
 */
export async function judgeReply(llm: LlmStream, criterion: string, reply: string, options: JudgeOptions = {}): Promise<Verdict> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const ac = linkedAbort(options.signal);
  const timer = setTimeout(() => ac.abort(new TimeoutError(`The judge (${llm.provider} ${llm.model}) gave no verdict within ${timeoutMs} ms`)), timeoutMs);
  const history: ChatMessage[] = [
    { role: 'system', content: JUDGE_INSTRUCTIONS },
    { role: 'user', content: `${options.userText === undefined ? '' : `The user said: ${JSON.stringify(options.userText)}\n`}The agent replied: ${JSON.stringify(reply)}\nCriterion: ${criterion}` },
  ];
  let text = '';
  let badCall: string | undefined; // a verdict call whose arguments are not a verdict
  try {
    for await (const ev of abortable(llm.respond(history, { tools: [VERDICT_TOOL], signal: ac.signal }), ac.signal)) {
      if (ev.type === 'tool_call' && ev.call.name === VERDICT_TOOL.name) {
        const verdict = verdictOf(ev.call.arguments);
        if (verdict) return verdict;
        badCall ??= ev.call.arguments;
      } else if (ev.type === 'text' && text.length < 8192) text += ev.delta;
    }
  } catch (err) {
    throw ac.signal.reason instanceof TimeoutError ? ac.signal.reason : err;
  } finally {
    clearTimeout(timer);
    ac.dispose();
  }
  const json = /\{[\s\S]*\}/.exec(text)?.[0];
  const verdict = json === undefined ? undefined : verdictOf(json);
  if (verdict) return verdict;
  if (badCall !== undefined) {
    throw new ProtocolError(`The judge (${llm.provider} ${llm.model}) called verdict with arguments that are not a verdict (pass must be true or false): ${badCall.slice(0, 200)}`, { provider: llm.provider });
  }
  throw new ProtocolError(`The judge (${llm.provider} ${llm.model}) gave no verdict (no verdict call, no JSON {"pass", "reason"}); it said: ${JSON.stringify(text.slice(0, 200))}`, { provider: llm.provider });
}
