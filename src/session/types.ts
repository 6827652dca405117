import type { Vad } from '../audio/vad';
import type { ToolHooks } from '../llm/loop';
import type { Tool, ToolOutcome } from '../llm/tools';
import type { LlmStream, ToolCall } from '../llm/types';
import type { SttStream } from '../stt/types';
import type { ChunkerOptions } from '../tts/chunker';
import type { TtsStream } from '../tts/types';
import type { VoxlineError } from '../errors';
import type { Clock } from '../streams/clock';
import type { PriceTable, TurnLatency, TurnTimestamps, Usage } from './metrics';
import type { RealtimeModel } from '../realtime/types';
import type { Agent, HandoffInfo } from './agent';

/** When a user turn ends. */
export type TurnEndPolicy = 'speech_final' | 'utterance_end' | {
  /** The turn ends after this much silence after the last final transcript, in milliseconds. */
  silenceMs: number;
};

/** Barge-in settings. */
export interface BargeInOptions {
  /** Words the user must say before the agent stops (default 2; 0 stops on speech start). */
  minWords?: number | undefined;
  /**
   * With a local `vad`, the agent stops on the user's speech at once; if no words follow within
   * this long, it was noise and the agent says the rest of what it was saying (default 1200 ms).
   */
  resumeAfterMs?: number | undefined;
}

/** Options of {@link VoiceSession}. */
export interface VoiceSessionOptions {
  /** Speech-to-text: hears the user (e.g. `new DeepgramStt(...)`, `gateway(...).stt(...)`). */
  stt: SttStream;
  /** The model that writes the replies and calls the tools (e.g. `new OpenAiLlm(...)`). */
  llm: LlmStream;
  /** Text-to-speech: speaks the replies (e.g. `new ElevenLabsTts(...)`). */
  tts: TtsStream;
  /** System prompt; with an LLM that has its own `instructions`, the two are sent as one system message (the LLM's first). */
  instructions?: string | undefined;
  /** Spoken first, before the user says anything. */
  greeting?: string | undefined;
  /**
   * Where the errors the session recovers from go when nobody listens to its `error` event, so
   * that none is lost (default: `console`, as warnings). Anything with a `warn(message)` method:
   * console, pino, winston. With an `error` listener, the listener gets them instead.
   */
  logger?: {
    /** Called with one line describing the error (its name, code, provider and message). */
    warn(message: string): void;
  } | undefined;
  /** Tools the model may call. */
  tools?: readonly Tool<any, unknown>[] | undefined;
  /** Hooks before (veto or replace) and after each tool call. */
  toolHooks?: ToolHooks | undefined;
  /** LLM requests per turn, tool calls included (default 5). */
  maxToolSteps?: number | undefined;
  /** Spoken when a tool is still running after `afterMs` (default 700 ms). */
  toolFiller?: string | {
    /** What is said. */
    text: string;
    /** How long a tool may run before the filler is said, in milliseconds (default 700). */
    afterMs?: number | undefined;
  } | undefined;
  /** Phrases that end the call when the user says them. */
  hangUpPhrases?: readonly string[] | undefined;
  /** Said before hanging up. */
  goodbye?: string | undefined;
  /** When a user turn ends (default `speech_final`). */
  turnEnd?: TurnEndPolicy | undefined;
  /** Barge-in settings, or false to let the agent finish speaking. */
  bargeIn?: false | BargeInOptions | undefined;
  /** Messages kept in history (oldest dropped first; default unlimited). */
  historyLimit?: number | undefined;
  /** What to do when a provider fails mid-turn: say `apology` and go on, or close (default `apologize`). */
  onProviderError?: 'apologize' | 'close' | undefined;
  /** Said after a provider failure (default "Sorry, I ran into a problem. Could you say that again?"). */
  apology?: string | undefined;
  /**
   * Once `close()` has stopped (or let finish) the reply, how long closing the output and the
   * providers' connections may take before the session is closed regardless (default 5000 ms).
   */
  closeTimeoutMs?: number | undefined;
  /**
   * Longest wait for the LLM's first token (text or a tool call) of each request of a reply, from
   * the request (default 15 000 ms). Past it the reply is abandoned: a `TimeoutError` event, then
   * the apology, as for any failed reply. A caller hears silence while the model thinks: raise it
   * for a reasoning model that thinks longer. The LLM client's own first-token timeout still applies.
   */
  firstTokenTimeoutMs?: number | undefined;
  /** Prices to estimate cost from usage. */
  prices?: PriceTable | undefined;
  /** End the session politely once the estimated cost reaches this. */
  budget?: number | undefined;
  /** Sentence chunker settings. */
  chunker?: ChunkerOptions | undefined;
  /**
   * A local voice-activity detector run on the input frames (e.g. `await sileroVad()`): barge-in
   * triggers on local speech start, without waiting for the STT provider, and a user turn also
   * ends on local silence when the STT is slow to send its end of turn.
   */
  vad?: Vad | undefined;
  /** With `vad`: end the user's turn this long after local speech end if the STT has not (default 700 ms). */
  vadTurnEndMs?: number | undefined;
  /**
   * Where the session's time comes from: its timers (silence, VAD turn end, tool filler, resume
   * after noise) and the timestamps of its latency metrics. Default: the wall clock. Tests give
   * the same `acceleratedClock()` (from `voxline/testing`) to the session, the emulators, the
   * scripted caller and the virtual speaker.
   */
  clock?: Clock | undefined;
  /**
   * Characters per second the voice speaks, used to tell what the user heard of a reply cut off
   * by a barge-in when the TTS sends no alignment, until the session has measured the voice on a
   * reply it received in full (default 15).
   */
  speakingRate?: number | undefined;
  /**
   * Preemptive replies (default on): on a likely end of the user's turn (the STT's
   * `eager_end_of_turn`, or, with a local `vad`, the stable transcript so far once the VAD
   * hears silence), start the LLM and the TTS of the reply's first clause before the STT confirms the
   * turn. Nothing is played, no tool runs and nothing is recorded until the turn ends with the
   * same text; otherwise the speculative reply is dropped (its tokens and characters are billed
   * all the same: they count in `usage`, `cost` and the `budget`, an estimate where the request
   * was cut before its usage came; see the `preemption` event). At most `maxSpeculativeRequests`
   * a turn. `false` turns it off.
   */
  preemptive?: boolean | undefined;
  /**
   * Most speculative replies (each one LLM request) started in one user turn (default 3; 0 starts
   * none). A provider that sends its eager end of turn and turn resumed over and over (Deepgram
   * Flux's `EagerEndOfTurn`/`TurnResumed`) costs at most this many requests; after it, the reply
   * waits for the real end of the turn.
   */
  maxSpeculativeRequests?: number | undefined;
  /**
   * The agent that starts the call: its instructions, tools, greeting (and model, TTS or voice
   * when it sets them) replace the session's. Without it the session's own options are the
   * agent. Either may hand the call to another {@link Agent} (see docs/agents.md).
   */
  agent?: Agent | undefined;
}

/** How preemption went for one turn (in {@link TurnEvent}). */
export interface PreemptionReport {
  /** The reply played was the one prepared before the turn was confirmed. */
  hit: boolean;
  /** Speculative replies dropped since the previous turn (their text differed from the turn's). */
  misses: number;
  /** LLM completion tokens those dropped replies used (the deltas received, where no usage came). */
  wastedTokens: number;
  /** Characters those dropped replies sent to TTS. */
  wastedChars: number;
}

/**
 * Options of a {@link VoiceSession} whose brain is a speech-to-speech model instead of `stt`,
 * `llm` and `tts`: the model hears the user, detects the end of turns, calls the tools and speaks.
 * Barge-in happens on the model's (or the local `vad`'s) speech start.
 */
export interface RealtimeSessionOptions extends Omit<VoiceSessionOptions, 'stt' | 'llm' | 'tts' | 'turnEnd' | 'vadTurnEndMs' | 'toolFiller'> {
  /** The model, e.g. `new OpenAiRealtime({ apiKey, voice: 'marin' })`. */
  realtime: RealtimeModel;
  /**
   * With a model in text output mode (`output: 'text'`): the voice that speaks its replies, as in
   * the pipeline (sentence chunks, alignment, heard text). Not allowed with audio output.
   */
  tts?: TtsStream | undefined;
  /** How fixed text (greeting, goodbye, apology) is asked of the model (default: say exactly the text). */
  sayInstructions?: ((text: string) => string) | undefined;
}

/** A completed turn with its latency breakdown. */
export interface TurnEvent {
  /** The turn's number in the call, from 0. */
  index: number;
  /** What the user said in the turn (the final transcript). */
  userText: string;
  /** When each stage of the turn happened. */
  timestamps: TurnTimestamps;
  /** The turn's latency, stage by stage. */
  latency: TurnLatency;
  /** Set when the turn's reply was prepared early, or speculative replies were dropped before it. */
  preemption?: PreemptionReport;
  /** The agent that answered (its name), when the session has agents. */
  agent?: string;
}

/** One entry of the conversation record. */
export interface TranscriptEntry {
  /** Who spoke. */
  role: 'user' | 'agent';
  /** What was said (for the agent: what the user heard). */
  text: string;
  /** Milliseconds since the session started. */
  at: number;
  /** The agent was cut off; `text` is what the user heard. */
  interrupted?: boolean | undefined;
  /** Which agent spoke (its name), for the agent's entries of a session that has agents. */
  agent?: string | undefined;
}

/** Events of a {@link VoiceSession}. */
export interface VoiceSessionEvents {
  /** The user started speaking (`source`: the STT provider or the local VAD). */
  user_speech_started: [{
    /** Who heard the speech start: the STT provider or the local VAD. */
    source: 'stt' | 'vad';
  }];
  /** A transcript of the user's speech arrived from the STT: an interim guess or a final. */
  transcript: [{
    /** The words recognised. */
    text: string;
    /** A final transcript (it will not change), not an interim one. */
    final: boolean;
  }];
  /** The user's turn ended; the agent answers it. */
  user_turn: [{
    /** The whole turn's text. */
    text: string;
  }];
  /** A turn completed, with its latency breakdown. */
  turn: [TurnEvent];
  /** The agent started speaking a reply (or a greeting, filler, goodbye). */
  agent_speech_started: [{
    /** The text being spoken. */
    text: string;
  }];
  /** The agent stopped speaking: the reply played to the end, or was cut off. */
  agent_speech_ended: [{
    /** What the user heard. */
    text: string;
    /** The reply was cut off (barge-in or close). */
    interrupted: boolean;
  }];
  /**
   * The agent was cut off. `heardText` is what the user heard (whole words; `history` and
   * `transcript` record the same), `fullText` what had been sent to TTS, `playedMs` how much of
   * the reply's audio had played.
   */
  interrupted: [{
    /** What the user heard, whole words. */
    heardText: string;
    /** What had been sent to TTS. */
    fullText: string;
    /** Milliseconds from the user's speech start to the agent's audio stopping. */
    latencyMs: number;
    /** How much of the reply's audio had played, in milliseconds. */
    playedMs: number;
  }];
  /**
   * A speculative reply was played (`hit`) or dropped because the turn ended with other text or
   * went on; `wastedTokens` and `wastedChars` are what a dropped one used.
   */
  preemption: [{
    /** The speculative reply was played. */
    hit: boolean;
    /** The user text the reply was prepared for. */
    text: string;
    /** LLM completion tokens a dropped reply used. */
    wastedTokens: number;
    /** Characters a dropped reply sent to TTS. */
    wastedChars: number;
  }];
  /** The model called a tool (before it runs). */
  tool_call: [ToolCall];
  /** A tool call finished: its result, or the error the model was told. */
  tool_result: [{
    /** The call. */
    call: ToolCall;
    /** Its result or error. */
    outcome: ToolOutcome;
  }];
  /** Token and character counts of one request (LLM, TTS or realtime model). */
  usage: [Usage];
  /** The call was handed to another agent (from a tool, or from code); emitted before the new agent speaks. */
  handoff: [HandoffInfo];
  /** An error the session recovered from (with no listener, it goes to the `logger`). */
  error: [VoxlineError];
  /** The session ended. */
  closed: [{
    /** Why: `'hang-up'`, `'input ended'`, `'caller hung up'`, `'budget reached'`, `'provider error'`, or the `reason` given to `close()`. */
    reason: string;
  }];
}
