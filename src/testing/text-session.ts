import { BudgetExceededError, ConfigError, ProviderError, ToolError, VoxlineError, isAbortError } from '../errors';
import { TEXT_SESSION_OPTIONS } from '../option-names';
import { checkOptionNames } from '../provider';
import { appendHistory, hangUpPhraseIn, withInstructions } from '../llm/history';
import type { ChatMessage, LlmStream, LlmUsage, ToolCall } from '../llm/types';
import { type Usage, costOf } from '../session/metrics';
import { type Agent, AgentRoster, type HandoffInfo, type HandoffOptions, HandoffWatch, MAX_HANDOFFS_PER_TURN } from '../session/agent';
import { agentLoop } from '../session/reply';
import type { VoiceSessionOptions } from '../session/session';
import { SentenceChunker } from '../tts/chunker';
import { TurnExpectation } from './expect';

/** Options of {@link TextSession}: the agent definition of a {@link VoiceSessionOptions}, without audio. */
export interface TextSessionOptions extends Omit<VoiceSessionOptions, 'llm' | 'stt' | 'tts'> {
  /** The model, as given to the voice session (an emulator's or a real provider's). */
  llm: LlmStream;
  /** Not used (a text session has no audio): taken so that a voice session's options can be passed as they are. */
  stt?: VoiceSessionOptions['stt'] | undefined;
  /** Not used (a text session has no audio): taken so that a voice session's options can be passed as they are. */
  tts?: VoiceSessionOptions['tts'] | undefined;
}

/** Why a text-level conversation ended, as a voice session would close. */
export type HangUpReason = 'hang-up' | 'budget reached' | 'provider error';

/** One thing the agent did during a turn, in order. */
export type AgentEvent =
  | {
      /** The model called a tool; `arguments` are parsed from JSON (the raw string when they are not JSON). */
      type: 'tool_call';
      /** The tool's name. */
      name: string;
      /** The arguments, parsed. */
      arguments: unknown;
      /** The call as the model made it. */
      call: ToolCall;
    }
  | {
      /** A tool call's outcome: `result` when it succeeded, `error` when it failed or was refused by validation. */
      type: 'tool_result';
      /** The tool's name. */
      name: string;
      /** The tool ran. */
      ok: boolean;
      /** What it returned, when it ran. */
      result?: unknown;
      /** Why it failed, when it did. */
      error?: ToolError | undefined;
      /** The call. */
      call: ToolCall;
    }
  | {
      /** Text the agent says (as the voice session would send it to TTS). */
      type: 'message';
      /** The text. */
      text: string;
      /** Which agent said it (its name), when the session has agents. */
      agent?: string | undefined;
    }
  | ({
      /** A tool handed the call to another agent, which answers next. */
      type: 'handoff';
    } & HandoffInfo)
  | {
      /** The agent ended the call. */
      type: 'hang_up';
      /** Why. */
      reason: HangUpReason;
    }
  | {
      /** A provider failed during the turn. */
      type: 'error';
      /** The error. */
      error: VoxlineError;
    };

/** The outcome of one user utterance. */
export interface TextTurn {
  /** What the user said. */
  readonly userText: string;
  /** What the agent did, in order. */
  readonly events: readonly AgentEvent[];
  /** Everything the agent said in this turn, joined. */
  readonly text: string;
  /** Fresh fluent assertions on {@link TextTurn.events}, starting at the first event (each access starts over). */
  readonly expect: TurnExpectation;
}

/**
 * Runs an agent definition (the LLM, instructions, tools and their hooks, hang-up phrases, budget
 * and history limit of a {@link VoiceSessionOptions}) one user utterance at a time, as text: no STT,
 * TTS or audio. Each turn goes through the same tool loop and history rules as the voice session
 * and returns what the agent did, in order, with assertions on it.
 *
 * ```ts
 * const agent = new TextSession({ ...myAgent, llm });
 * const turn = await agent.run('Where is order A-17?');
 * turn.expect.toolCall('lookup_order', { order_id: 'A-17' }).toolResult().message(/shipped/).noMoreEvents();
 * ```
 */
export class TextSession {
  /** The conversation so far, exactly as the voice session would keep it. */
  readonly history: ChatMessage[] = [];
  /** Every turn so far. */
  readonly turns: TextTurn[] = [];
  /** What the conversation consumed (`ttsCharacters` counts the text the agent would have spoken). */
  readonly usage: Usage = { sttSeconds: 0, llmPromptTokens: 0, llmCompletionTokens: 0, ttsCharacters: 0 };
  /** Every handoff so far, from tools and from code. */
  readonly handoffs: HandoffInfo[] = [];
  private readonly opts: TextSessionOptions;
  private readonly agents: AgentRoster;
  private ended?: HangUpReason;
  private busy = false;

  /** Checks the options (an `llm` is required; a `ConfigError` otherwise). */
  constructor(options: TextSessionOptions) {
    if (!options?.llm) throw new ConfigError('TextSession needs an llm');
    checkOptionNames('TextSession', options, TEXT_SESSION_OPTIONS);
    if (options.historyLimit !== undefined && !(options.historyLimit >= 2)) throw new ConfigError('historyLimit must be at least 2');
    if (options.budget !== undefined && !options.prices) throw new ConfigError('budget needs prices');
    this.opts = options;
    this.agents = new AgentRoster(options, options.agent);
    const greeting = this.agents.current.greeting;
    if (greeting) this.pushHistory({ role: 'assistant', content: greeting });
  }

  /** The name of the agent that has the conversation (undefined: the session's own options). */
  get agent(): string | undefined {
    return this.agents.name;
  }

  /**
   * Hands the conversation to `agent` from code, as `VoiceSession.handoff()` does: its
   * instructions and tools answer the next turn; its greeting, if any, is kept in history.
   * Rejects with a `ConfigError` while a turn is running, or (once switched, the whole history
   * kept) with the error of a `carryHistory` hook that failed.
   */
  async handoff(agent: Agent, options: HandoffOptions = {}): Promise<HandoffInfo> {
    if (this.busy) throw new ConfigError('TextSession.handoff() was called while a turn is running: await the turn first');
    let failed: VoxlineError | undefined;
    const info = await this.agents.switchTo(agent, this.history, { reason: options.reason, source: 'code' }, (err) => (failed = err));
    this.handoffs.push(info);
    if (agent.greeting) this.sayRecorded(agent.greeting, () => {});
    // The agent has the conversation all the same; its carryHistory hook failed: the whole history was kept.
    if (failed) throw failed;
    return info;
  }

  /** Why the conversation ended, once it has. */
  get endedReason(): HangUpReason | undefined {
    return this.ended;
  }

  /** Estimated cost so far (needs `prices`). */
  get cost(): number {
    return this.opts.prices ? costOf(this.usage, this.opts.prices) : 0;
  }

  /**
   * Says `userText` to the agent and resolves with what it did. Rejects (with a `ConfigError`)
   * once the agent has hung up, or while another turn is running (await each turn); a provider
   * failure is an `error` event, handled as the voice session would (an apology, or the end of
   * the call).
   */
  async run(userText: string, options: { signal?: AbortSignal | undefined } = {}): Promise<TextTurn> {
    if (this.ended) throw new ConfigError(`The conversation has ended (${this.ended}); start a new TextSession`);
    if (this.busy) throw new ConfigError('TextSession.run() was called while a turn is running: await each turn before the next');
    this.busy = true;
    try {
      return await this.turn(userText, options);
    } finally {
      this.busy = false;
    }
  }

  private async turn(userText: string, options: { signal?: AbortSignal | undefined }): Promise<TextTurn> {
    const events: AgentEvent[] = [];
    const said: string[] = [];
    const say = (text: string, agent = this.agents.name) => {
      said.push(text);
      events.push({ type: 'message', text, ...(agent !== undefined ? { agent } : {}) });
    };
    this.pushHistory({ role: 'user', content: userText });
    if (hangUpPhraseIn(userText, this.opts.hangUpPhrases)) {
      if (this.opts.goodbye) this.sayRecorded(this.opts.goodbye, say);
      this.end('hang-up', events);
      return this.finish(userText, events, said);
    }
    let llmError: unknown;
    for (let handoffs = 0; ; ) {
      const agent = this.agents.current;
      const work = withInstructions(this.history, agent.instructions);
      const base = work.length;
      const chunker = new SentenceChunker(this.opts.chunker);
      const spoken: string[] = [];
      let segment: string[] = [];
      const addChunks = (chunks: string[]) => {
        for (const c of chunks) this.usage.ttsCharacters += c.length;
        segment.push(...chunks);
        spoken.push(...chunks);
      };
      const endSegment = () => {
        addChunks(chunker.flush());
        if (segment.length) say(segment.join(' '), agent.name);
        segment = [];
      };
      const watch = new HandoffWatch();
      try {
        for await (const ev of agentLoop(agent, work, options.signal, (u) => this.addUsage(u), this.opts)) {
          if (ev.type === 'text') addChunks(chunker.push(ev.delta));
          else if (ev.type === 'tool_call') {
            endSegment();
            events.push({ type: 'tool_call', name: ev.call.name, arguments: parseArguments(ev.call.arguments), call: ev.call });
          } else if (ev.type === 'tool_result') {
            const o = ev.outcome;
            events.push(o.ok ? { type: 'tool_result', name: ev.call.name, ok: true, result: o.result, call: ev.call } : { type: 'tool_result', name: ev.call.name, ok: false, error: o.error, call: ev.call });
          } else if (ev.type === 'usage') this.addUsage(ev.usage);
          if (watch.see(ev)) break;
        }
      } catch (err) {
        if (!isAbortError(err) || !options.signal?.aborted) llmError = err;
      }
      endSegment();
      this.pushHistory(...work.slice(base));
      if (spoken.length) this.pushHistory({ role: 'assistant', content: spoken.join(' ') });
      // A tool handed the conversation over: the new agent answers the same turn.
      const next = watch.found;
      if (llmError || !next || options.signal?.aborted) break;
      let info: HandoffInfo;
      try {
        info = await this.agents.switchTo(next.to, this.history, { reason: next.reason, source: 'tool' }, (error) => events.push({ type: 'error', error }));
      } catch (err) {
        events.push({ type: 'error', error: err instanceof VoxlineError ? err : new ProviderError(String(err), { cause: err }) });
        break;
      }
      this.handoffs.push(info);
      events.push({ type: 'handoff', ...info });
      if (++handoffs > MAX_HANDOFFS_PER_TURN) {
        events.push({ type: 'error', error: new ToolError('handoff', `More than ${MAX_HANDOFFS_PER_TURN} handoffs in one turn: ${next.to.name} has the call but does not answer until the user speaks again`) });
        break;
      }
    }
    if (llmError) {
      events.push({ type: 'error', error: llmError instanceof VoxlineError ? llmError : new ProviderError(String((llmError as Error)?.message ?? llmError), { cause: llmError }) });
      // The gateway's spend cap, as VoiceSession: every later turn would be refused too.
      if (llmError instanceof BudgetExceededError) {
        this.sayRecorded(this.opts.goodbye ?? 'I have to end the call here. Goodbye!', say);
        this.end('budget reached', events);
      } else if (this.opts.onProviderError === 'close') this.end('provider error', events);
      else this.sayRecorded(this.opts.apology ?? 'Sorry, I ran into a problem. Could you say that again?', say);
    }
    if (!this.ended && this.opts.budget !== undefined && this.cost >= this.opts.budget) {
      this.sayRecorded(this.opts.goodbye ?? 'I have to end the call here. Goodbye!', say);
      this.end('budget reached', events);
    }
    return this.finish(userText, events, said);
  }

  /** Fixed text the agent says and keeps in history (goodbye, apology). */
  private sayRecorded(text: string, say: (text: string) => void): void {
    this.usage.ttsCharacters += text.length;
    say(text);
    this.pushHistory({ role: 'assistant', content: text });
  }

  private addUsage(u: LlmUsage): void {
    this.usage.llmPromptTokens += u.promptTokens;
    this.usage.llmCompletionTokens += u.completionTokens;
  }

  private end(reason: HangUpReason, events: AgentEvent[]): void {
    this.ended = reason;
    events.push({ type: 'hang_up', reason });
  }

  private finish(userText: string, events: AgentEvent[], said: string[]): TextTurn {
    const turn: TextTurn = {
      userText,
      events,
      text: said.join(' '),
      get expect() {
        return new TurnExpectation(userText, events);
      },
    };
    this.turns.push(turn);
    return turn;
  }

  private pushHistory(...messages: ChatMessage[]): void {
    appendHistory(this.history, messages, this.opts.historyLimit);
  }
}

function parseArguments(json: string): unknown {
  try {
    return json.trim() ? JSON.parse(json) : {};
  } catch {
    return json;
  }
}
