import { ConfigError, VoxlineError } from '../errors';
import type { LoopEvent, ToolHooks } from '../llm/loop';
import type { Tool } from '../llm/tools';
import type { ChatMessage, LlmStream } from '../llm/types';
import type { TtsStream } from '../tts/types';
import { checkSessionOptions } from './options';
import { AGENT_OPTIONS } from '../option-names';
import { checkOptionNames } from '../provider';

/** Options of an {@link Agent}. */
export interface AgentOptions {
  /** How the agent is named in events, the transcript, metrics and spans (1 to 64 characters). */
  name: string;
  /** Its system prompt (replaces the session's `instructions`; none when unset). */
  instructions?: string | undefined;
  /** The tools it may call (replace the session's `tools`; none when unset). */
  tools?: readonly Tool<any, unknown>[] | undefined;
  /** Its model (default: the session's `llm`). */
  llm?: LlmStream | undefined;
  /** Its own text-to-speech (default: the session's `tts`). Opened on the first handoff to it; closed with the session. */
  tts?: TtsStream | undefined;
  /**
   * Its voice on the session's (or its own) TTS: sent with each synthesis where the provider takes
   * a voice per request on the same socket (Cartesia), or a new stream for that voice where it
   * cannot (ElevenLabs: the voice is part of the socket's URL). A TTS that can do neither is a
   * `ConfigError`: give the agent its own `tts`.
   */
  voice?: string | undefined;
  /** Said when the agent starts the call, or takes it over from code (`session.handoff()`); not on a handoff from a tool, where it answers the user instead. */
  greeting?: string | undefined;
  /** Hooks around its tool calls (default: the session's `toolHooks`). */
  toolHooks?: ToolHooks | undefined;
  /** LLM requests per turn, tool calls included (default: the session's `maxToolSteps`). */
  maxToolSteps?: number | undefined;
  /**
   * What of the conversation the agent receives when the call is handed to it (default: all of
   * it). Return the messages to keep, e.g. a summary as one system or assistant message. It may
   * throw or take too long (more than {@link CARRY_HISTORY_TIMEOUT_MS}): the whole history is kept
   * and the session's `error` event says why.
   */
  carryHistory?: ((history: readonly ChatMessage[], handoff: HandoffInfo) => readonly ChatMessage[] | Promise<readonly ChatMessage[]>) | undefined;
}

/**
 * An agent: the instructions, tools, model, voice and greeting that speak for the session until
 * the call is handed to another agent, from a tool (`return handoff(billing, { reason })`) or from
 * code (`session.handoff(billing)`). A session without agents is its own default agent: its
 * `instructions`, `tools`, `llm`, `tts` and `greeting`.
 */
export class Agent {
  /** Its name. */
  readonly name: string;
  /** Its system prompt. */
  readonly instructions?: string;
  /** Its tools. */
  readonly tools?: readonly Tool<any, unknown>[];
  /** Its model, if not the session's. */
  readonly llm?: LlmStream;
  /** Its TTS, if not the session's. */
  readonly tts?: TtsStream;
  /** Its voice, if not its TTS's own. */
  readonly voice?: string;
  /** Said when it starts the call or takes it over from code. */
  readonly greeting?: string;
  /** Hooks around its tool calls, if not the session's. */
  readonly toolHooks?: ToolHooks;
  /** LLM requests per turn, if not the session's. */
  readonly maxToolSteps?: number;
  /** What of the conversation it receives on a handoff (default: all). */
  readonly carryHistory?: AgentOptions['carryHistory'];

  /** Checks the options at once: a wrong one is a `ConfigError` naming it. */
  constructor(options: AgentOptions) {
    if (!options || typeof options.name !== 'string' || !/^\S(.{0,62}\S)?$/.test(options.name)) throw new ConfigError(`An agent needs a name of 1 to 64 characters (got ${JSON.stringify(options?.name)})`);
    checkOptionNames(`Agent ${options.name}`, options, AGENT_OPTIONS);
    checkSessionOptions({ tools: options.tools, maxToolSteps: options.maxToolSteps });
    if (options.voice !== undefined && (typeof options.voice !== 'string' || !options.voice)) throw new ConfigError(`agent ${options.name}: voice must be a non-empty voice id`);
    if (options.carryHistory !== undefined && typeof options.carryHistory !== 'function') throw new ConfigError(`agent ${options.name}: carryHistory must be a function`);
    Object.assign(this, options);
    this.name = options.name;
  }
}

/** Options of {@link handoff}. */
export interface HandoffOptions {
  /** Why the call is handed over (in the `handoff` event, and told to the model). */
  reason?: string | undefined;
}

/**
 * What a tool returns to hand the call to another agent: the model is told
 * `{"handoff":"<name>","reason":...}`, the old agent's tools stop being offered and the new agent
 * answers the user in the same turn. Make one with {@link handoff}.
 */
export class Handoff {
  /**
   * Made by {@link handoff}.
   * @param to the agent the call goes to
   * @param reason why
   */
  constructor(readonly to: Agent, readonly reason?: string) {}

  /** What the model is told as the tool's result. */
  toJSON(): {
    /** The new agent's name. */
    handoff: string;
    /** Why, when given. */
    reason?: string;
  } {
    return { handoff: this.to.name, ...(this.reason ? { reason: this.reason } : {}) };
  }
}

/**
 * Hands the call to `to`: return it from a tool's `execute`.
 *
 * ```ts
 * const toBilling = tool({ name: 'transfer_to_billing', description: 'Billing questions', parameters: { type: 'object', properties: {} },
 *   execute: () => handoff(billing, { reason: 'billing question' }) });
 * ```
 */
export function handoff(to: Agent, options: HandoffOptions = {}): Handoff {
  if (!(to instanceof Agent)) throw new ConfigError('handoff() needs an Agent to hand the call to');
  return new Handoff(to, options.reason);
}

/** A handoff that happened (the `handoff` event). */
export interface HandoffInfo {
  /** The agent that had the call (undefined: the session's own options). */
  from?: string;
  /** The agent that has it now. */
  to: string;
  /** Why, as given to `handoff()`. */
  reason?: string;
  /** A tool returned `handoff()`, or code called `session.handoff()`. */
  source: 'tool' | 'code';
}

/** How long an agent's `carryHistory` hook may take before the whole history is kept. */
export const CARRY_HISTORY_TIMEOUT_MS = 5000;

/** Most handoffs answered within one user turn (a chain beyond it switches agent but answers no more). */
export const MAX_HANDOFFS_PER_TURN = 3;

/** The session settings an agent replaces or inherits. */
export interface AgentBase {
  instructions?: string;
  tools?: readonly Tool<any, unknown>[];
  llm?: LlmStream;
  tts?: TtsStream;
  greeting?: string;
  toolHooks?: ToolHooks;
  maxToolSteps?: number;
}

/** The settings that speak now: an agent's over the session's. */
export interface AgentConfig {
  /** The agent's name; undefined for the session's own options. */
  name?: string;
  agent?: Agent;
  instructions?: string;
  tools?: readonly Tool<any, unknown>[];
  llm: LlmStream;
  toolHooks?: ToolHooks;
  maxToolSteps?: number;
  greeting?: string;
  /** The agent's voice (a realtime model that speaks itself is asked for it). */
  voice?: string;
  /** The TTS that speaks and the voice to ask it for per synthesis. */
  speech?: Speech;
}

/** The TTS that speaks a reply, and the voice to ask it for where it takes one per synthesis. */
export interface Speech {
  tts: TtsStream;
  voice?: string;
}

/**
 * Which agent speaks for a session, the TTS streams opened for agents' voices, and the switch
 * from one agent to the next (history carried or summarised, the new voice ready).
 */
export class AgentRoster {
  /** What speaks now. */
  current: AgentConfig;
  /** Streams voxline opened for agents (their own `tts`, or a voice made by `withVoice`), to close with the session. */
  private readonly opened = new Map<TtsStream | string, TtsStream>();

  constructor(private readonly base: AgentBase, first?: Agent) {
    this.current = this.configOf(first);
  }

  /** The name of the agent speaking, if it is an {@link Agent}. */
  get name(): string | undefined {
    return this.current.name;
  }

  /** An agent's settings over the session's; checks that its voice can be spoken (`ConfigError`). */
  configOf(agent?: Agent): AgentConfig {
    const b = this.base;
    if (agent !== undefined && !(agent instanceof Agent)) throw new ConfigError('An agent must be an Agent (new Agent({ name, instructions, tools }))');
    if (!agent) return { instructions: b.instructions, tools: b.tools, llm: b.llm!, toolHooks: b.toolHooks, maxToolSteps: b.maxToolSteps, greeting: b.greeting, ...(b.tts ? { speech: { tts: b.tts } } : {}) };
    const tts = agent.tts ?? b.tts;
    return {
      name: agent.name,
      agent,
      instructions: agent.instructions,
      tools: agent.tools,
      llm: agent.llm ?? b.llm!,
      toolHooks: agent.toolHooks ?? b.toolHooks,
      maxToolSteps: agent.maxToolSteps ?? b.maxToolSteps,
      greeting: agent.greeting,
      voice: agent.voice,
      ...(tts ? { speech: this.speechOf(agent, tts) } : {}),
    };
  }

  private speechOf(agent: Agent, tts: TtsStream): Speech {
    if (agent.tts && agent.tts !== this.base.tts) this.opened.set(agent.tts, agent.tts);
    if (agent.voice === undefined) return { tts };
    if (tts.voicePerSynthesis) return { tts, voice: agent.voice };
    if (typeof tts.withVoice === 'function') {
      const key = `${tts.provider}\u0000${agent.voice}\u0000${agent.tts ? agent.name : ''}`;
      let made = this.opened.get(key);
      if (!made) this.opened.set(key, (made = tts.withVoice(agent.voice)));
      return { tts: made };
    }
    throw new ConfigError(`agent ${agent.name} asks for voice ${agent.voice}, but the ${tts.provider} TTS cannot change voice: give the agent its own tts`);
  }

  /**
   * Switches to `to`: its voice is checked (a `ConfigError` leaves the current agent speaking),
   * its TTS warmed up, and `history` (changed in place) replaced by what its `carryHistory` hook
   * keeps. `fail` gets a hook that threw, took too long or returned no list of messages.
   */
  async switchTo(to: Agent, history: ChatMessage[], how: { reason?: string; source: 'tool' | 'code' }, fail: (err: VoxlineError) => void): Promise<HandoffInfo> {
    const next = this.configOf(to);
    const info: HandoffInfo = { ...(this.current.name !== undefined ? { from: this.current.name } : {}), to: to.name, ...(how.reason ? { reason: how.reason } : {}), source: how.source };
    this.current = next;
    void next.speech?.tts.warmup?.().catch(() => {});
    if (to.carryHistory) {
      const kept = await carried(to, history, info).catch((err: unknown) => {
        fail(err instanceof VoxlineError ? err : new ConfigError(`agent ${to.name}: carryHistory failed, the whole history is kept: ${String((err as Error)?.message ?? err)}`, { cause: err }));
        return undefined;
      });
      if (kept) history.splice(0, history.length, ...kept);
    }
    return info;
  }

  /** Closes the streams opened for agents. */
  async close(): Promise<void> {
    const all = [...this.opened.values()];
    this.opened.clear();
    await Promise.all(all.map((t) => t.close?.().catch(() => {})));
  }
}

/** What `to.carryHistory` keeps, checked, within {@link CARRY_HISTORY_TIMEOUT_MS}. */
async function carried(to: Agent, history: readonly ChatMessage[], info: HandoffInfo): Promise<ChatMessage[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const kept = await Promise.race([
      Promise.resolve().then(() => to.carryHistory!(history.slice(), info)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ConfigError(`agent ${to.name}: carryHistory did not return within ${CARRY_HISTORY_TIMEOUT_MS} ms, the whole history is kept`)), CARRY_HISTORY_TIMEOUT_MS);
      }),
    ]);
    if (!Array.isArray(kept) || !kept.every((m) => m && typeof m === 'object' && typeof (m as ChatMessage).role === 'string')) throw new ConfigError(`agent ${to.name}: carryHistory must return a list of chat messages; the whole history is kept`);
    // A tool result whose call was dropped would be refused by the model.
    let first = 0;
    while (first < kept.length && kept[first]!.role === 'tool') first++;
    return kept.slice(first);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watches a tool loop for a tool that returned {@link handoff}: once every result of that batch
 * is in (the history holds them all), the loop must stop; the new agent answers.
 */
export class HandoffWatch {
  /** The handoff asked for (the last one, when a batch holds several). */
  found?: Handoff;
  private awaiting = 0;

  /** True when the loop must stop now. */
  see(ev: LoopEvent): boolean {
    if (ev.type === 'tools_started') this.awaiting = ev.calls.length;
    if (ev.type !== 'tool_result') return false;
    this.awaiting--;
    if (ev.outcome.ok && ev.outcome.result instanceof Handoff) this.found = ev.outcome.result;
    return this.found !== undefined && this.awaiting <= 0;
  }
}
