import { AssertionError } from 'node:assert';
import { isDeepStrictEqual, inspect } from 'node:util';
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

  private next(what: string, ok: (ev: AgentEvent) => boolean): this {
    const ev = this.events[this.at];
    if (!ev || !ok(ev)) this.fail(what);
    this.at++;
    return this;
  }

  private fail(expected: string, positional = true): never {
    const ev = this.events[this.at];
    const got = !positional ? '' : ev ? `, but it is ${describeEvent(ev)}` : ', but there are no more events';
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
