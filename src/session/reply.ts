import type { EventEmitter } from 'eventemitter3';
import type { AudioOutput } from '../adapters/types';
import type { AudioFrame } from '../audio/frame';
import { Resampler } from '../audio/resample';
import { DeviceError, TimeoutError, VoxlineError, isAbortError } from '../errors';
import { type LoopEvent, runToolLoop } from '../llm/loop';
import type { ChatMessage, LlmUsage } from '../llm/types';
import { Channel, linkedAbort } from '../streams/channel';
import { type Clock, type ClockTimer, realClock } from '../streams/clock';
import { SentenceChunker } from '../tts/chunker';
import type { TtsFrame } from '../tts/types';
import { type AgentConfig, type Handoff, HandoffWatch, type Speech } from './agent';
import { type SessionMetrics, type TurnTimestamps, type Usage, latencyOf } from './metrics';
import type { PreemptionReport, VoiceSessionEvents, VoiceSessionOptions } from './types';

/** The reply being played. */
export interface ActiveReply {
  abort: AbortController;
  /** The text sent to TTS so far. */
  text: string;
  /** The provider's alignment: when each character is spoken, from the reply's first audio. */
  spoken: { atMs: number; chars: string }[];
  /** Milliseconds of audio received from TTS so far. */
  audioMs: number;
  /** True once the TTS has sent all the audio of `text`. */
  complete: boolean;
  startWrittenMs: number;
  done: Promise<void>;
  speaking: boolean;
  /** Set by a barge-in: how much had played and the whole words of it the user heard. */
  cut?: { playedMs: number; heard: string };
}

/** What a played reply said, and, cut off by a barge-in or a failure, what of it the user heard. */
export interface Played {
  text: string;
  cut?: { playedMs: number; heard: string };
  /** The TTS failed (error, stall): `cut` holds what was heard before it. */
  failed?: unknown;
}

/** The turn a reply answers, for its latency record. */
export interface ReplyTurn {
  ts: TurnTimestamps;
  index: number;
  userText: string;
  preemption?: PreemptionReport;
  /** The agent answering (its name), when one is. */
  agent?: string;
  /** Handoffs answered in this turn so far. */
  handoffs?: number;
}

/** Resolves true to go on, false to drop the reply (a speculative reply's confirmation). */
export type ReplyGate = () => Promise<boolean>;

/** What the reply path needs from the session it serves. */
export interface ReplyHost {
  readonly events: EventEmitter<VoiceSessionEvents>;
  readonly usage: Usage;
  readonly metrics: SessionMetrics;
  fail(err: unknown): void;
  /** The output failed (its `write()` threw): the call cannot go on. */
  outputFailed(err: VoxlineError): void;
  /** The agent's audio started or stopped playing. */
  speaking?(on: boolean): void;
}

/**
 * The reply path: LLM (with tools) → sentence chunks → TTS → output, and the part of the reply
 * the user heard.
 */
export class ReplyPath {
  /** Where the agent's audio goes (set when the session runs). */
  output?: AudioOutput;
  private active?: ActiveReply;
  /** Characters and milliseconds of audio of replies received in full without alignment. */
  private readonly measured = { chars: 0, ms: 0 };
  /** Per turn, how many tool fillers were sent to TTS before any text of the answer. */
  private readonly leadingFillers = new WeakMap<TurnTimestamps, number>();

  constructor(
    private readonly opts: VoiceSessionOptions,
    private readonly host: ReplyHost,
  ) {}

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  /** The reply being played, if any. */
  get current(): ActiveReply | undefined {
    return this.active;
  }

  /**
   * Runs the LLM with tools over `work` (the loop appends tool calls and results to it) and
   * chunks its text for TTS. `done` resolves to the LLM's failure, if any; `completionTokens`
   * counts the reply's tokens (its usage, or the deltas received where none came). With a `gate`,
   * no tool runs (and no tool event is emitted) until it opens. With an `agent`, its model, tools
   * and hooks answer; a tool that returns `handoff()` ends the reply once its batch's results are
   * in (`handoff` says to whom).
   */
  generate(work: ChatMessage[], ts: TurnTimestamps, signal: AbortSignal, gate?: ReplyGate, agent?: AgentConfig): { chunks: AsyncIterable<string>; done: Promise<unknown>; completionTokens: () => number; handoff: () => Handoff | undefined } {
    // As long as the reply (the LLM's output limit bounds it): a sentence is never dropped.
    const chunks = new Channel<string>(Infinity);
    const chunker = new SentenceChunker(this.opts.chunker);
    const filler = typeof this.opts.toolFiller === 'string' ? { text: this.opts.toolFiller, afterMs: 700 } : this.opts.toolFiller;
    const events = this.host.events;
    const pushChunk = (c: string) => {
      ts.firstTextToTts ??= this.clock.now();
      chunks.offer(c);
    };
    const pushFiller = (c: string) => {
      if (ts.firstTextToTts === undefined) {
        // Spoken before the answer: timed on its own, so that the turn's latency is the answer's.
        ts.fillerToTts ??= this.clock.now();
        this.leadingFillers.set(ts, (this.leadingFillers.get(ts) ?? 0) + 1);
      }
      chunks.offer(c);
    };
    let deltas = 0;
    let completion: number | undefined;
    ts.llmRequest = this.clock.now();
    const watch = new HandoffWatch();
    const done = (async () => {
      let fillerTimer: ClockTimer | undefined;
      try {
        for await (const ev of agentLoop(agent ?? this.opts, work, signal, (u) => this.addUsage(u), this.opts)) {
          if (ev.type === 'text') {
            ts.llmFirstToken ??= this.clock.now();
            deltas++;
            for (const c of chunker.push(ev.delta)) pushChunk(c);
            continue;
          }
          if (ev.type === 'usage') {
            completion = (completion ?? 0) + ev.usage.completionTokens;
            this.addUsage(ev.usage);
            continue;
          }
          // Tools run only once a speculative reply is confirmed.
          if (gate && !(await gate())) break;
          if (ev.type === 'tool_call') events.emit('tool_call', ev.call);
          else if (ev.type === 'tools_started') {
            for (const c of chunker.flush()) pushChunk(c);
            if (filler) fillerTimer = this.clock.setTimeout(() => pushFiller(filler.text), filler.afterMs ?? 700);
          } else if (ev.type === 'tool_result') {
            this.clock.clearTimeout(fillerTimer);
            events.emit('tool_result', { call: ev.call, outcome: ev.outcome });
          }
          if (watch.see(ev)) break;
        }
        for (const c of chunker.flush()) pushChunk(c);
      } catch (err) {
        if (!isAbortError(err)) return err;
      } finally {
        this.clock.clearTimeout(fillerTimer);
        chunks.close();
      }
      return undefined;
    })();
    return { chunks, done, completionTokens: () => completion ?? deltas, handoff: () => watch.found };
  }

  /** Fixed text (greeting, goodbye, apology) as chunks for TTS. */
  fixed(text: string): AsyncIterable<string> {
    // As long as the fixed text: every sentence of it is queued at once.
    const chunks = new Channel<string>(Infinity);
    for (const c of new SentenceChunker({ firstChunkWords: 0 }).push(`${text} `)) chunks.offer(c);
    chunks.close();
    return chunks;
  }

  /**
   * Cuts the reply being played: aborts it, drops the output's queued audio and notes what the
   * user heard of it. Returns the reply, or undefined if none was playing.
   */
  cut(): ActiveReply | undefined {
    const reply = this.active;
    if (!reply || reply.abort.signal.aborted) return undefined;
    reply.abort.abort();
    this.output?.clear();
    const playedMs = reply.speaking ? Math.max(0, (this.output?.playedMs ?? 0) - reply.startWrittenMs) : 0;
    reply.cut = { playedMs, heard: this.heard(reply, playedMs) };
    return reply;
  }

  /**
   * The whole words of a reply heard in its first `playedMs` of audio: mapped by the provider's
   * alignment when it sends one, else estimated from the voice's speaking rate.
   */
  private heard(reply: ActiveReply, playedMs: number): string {
    if (reply.spoken.length) {
      let heard = '';
      let all = '';
      for (const s of reply.spoken) {
        all += s.chars;
        if (s.atMs + 1e-6 < playedMs) heard += s.chars;
      }
      return wholeWords(all, heard.length);
    }
    return wholeWords(reply.text, Math.floor((playedMs / 1000) * this.charsPerSecond(reply) + 1e-6));
  }

  /**
   * Characters per second of a reply without alignment: exact once all its audio arrived; else
   * what this session measured on earlier replies (or the configured default), but never more
   * than the text sent over the audio received (the audio cannot say more than it was sent).
   */
  private charsPerSecond(reply: ActiveReply): number {
    const sent = reply.audioMs > 0 ? (reply.text.length * 1000) / reply.audioMs : Infinity;
    if (reply.complete) return sent;
    const known = this.measured.ms > 0 ? (this.measured.chars * 1000) / this.measured.ms : (this.opts.speakingRate ?? 15);
    return Math.min(known, sent);
  }

  /**
   * Streams chunks through TTS to the output; returns the text spoken and the part heard. With a
   * `gate` (a speculative reply), only the first chunk goes to TTS and nothing is written to the
   * output until it opens; if it closes, nothing is. `speech`: the agent's TTS and voice (default:
   * the session's TTS).
   */
  async play(chunks: AsyncIterable<string>, abort: AbortController, turn?: ReplyTurn, gate?: ReplyGate, speech?: Speech): Promise<Played> {
    const output = this.output!;
    const events = this.host.events;
    const ts = turn?.ts;
    let done!: () => void;
    const reply: ActiveReply = { abort, text: '', spoken: [], audioMs: 0, complete: false, startWrittenMs: output.writtenMs, done: new Promise((r) => (done = r)), speaking: false };
    if (!gate) this.active = reply;
    const usage = this.host.usage;
    const leadingFillers = () => (ts ? (this.leadingFillers.get(ts) ?? 0) : 0);
    // Chunks sent to TTS; audio received once the answer's first chunk was sent is the answer's
    // (before, the tool filler's).
    let sentChunks = 0;
    let answerSent = false;
    const sent = (async function* () {
      for await (const c of chunks) {
        if (reply.text && gate && !(await gate())) return;
        if (sentChunks++ >= leadingFillers()) answerSent = true;
        reply.text += (reply.text ? ' ' : '') + c;
        usage.ttsCharacters += c.length;
        yield c;
      }
    })();
    let resampler: Resampler | undefined;
    let failed: unknown;
    let outputFailed: VoxlineError | undefined;
    try {
      for await (const frame of (speech?.tts ?? this.opts.tts).synthesize(sent, { signal: abort.signal, ...(speech?.voice ? { voice: speech.voice } : {}) }) as AsyncIterable<TtsFrame>) {
        if (abort.signal.aborted) break;
        if (ts && answerSent && ts.ttsFirstAudio === undefined) ts.ttsFirstAudio = this.clock.now();
        if (frame.alignment) {
          const a = frame.alignment;
          for (let i = 0; i < a.chars.length; i++) reply.spoken.push({ atMs: reply.audioMs + a.startMs[i]!, chars: a.chars[i]! });
        }
        let out: AudioFrame = frame;
        if (frame.sampleRate !== output.sampleRate) {
          resampler ??= new Resampler(frame.sampleRate, output.sampleRate);
          out = { samples: resampler.process(frame.samples), sampleRate: output.sampleRate };
        }
        reply.audioMs += (frame.samples.length * 1000) / frame.sampleRate;
        if (!reply.speaking) {
          if (gate) {
            if (!(await gate()) || abort.signal.aborted) break;
            this.active = reply;
          }
          reply.speaking = true;
          reply.startWrittenMs = output.writtenMs;
          if (ts && !answerSent) ts.fillerAudioOut = this.clock.now();
          this.answerAudio(turn, answerSent);
          this.host.speaking?.(true);
          events.emit('agent_speech_started', { text: reply.text });
        } else this.answerAudio(turn, answerSent);
        if (out.samples.length) {
          try {
            await output.write(out);
          } catch (err) {
            // A write cut short by a barge-in or close is no failure of the output.
            if (abort.signal.aborted) throw err;
            throw (outputFailed = outputError(err));
          }
        }
        if (abort.signal.aborted) break;
        // Nobody is listening any more: stop the LLM and the TTS (both billed) at once.
        if (output.closed) {
          abort.abort();
          break;
        }
      }
      if (!abort.signal.aborted) {
        reply.complete = true;
        if (!reply.spoken.length && reply.audioMs > 0) {
          // The voice's speaking rate, for the next reply cut off before all its audio arrived.
          this.measured.chars += reply.text.length;
          this.measured.ms += reply.audioMs;
        }
        await waitOrAbort(output.drain(), abort.signal);
      }
    } catch (err) {
      if (outputFailed) {
        failed = outputFailed;
        abort.abort();
        // What was written may never play: only what the output played was heard.
        const playedMs = reply.speaking ? Math.max(0, output.playedMs - reply.startWrittenMs) : 0;
        reply.cut = { playedMs, heard: this.heard(reply, playedMs) };
        this.host.outputFailed(outputFailed);
      } else if (!isAbortError(err) && !abort.signal.aborted) {
        failed = err;
        this.host.fail(err);
        // Stop generating what cannot be said; what was already written still plays.
        abort.abort();
        const writtenMs = reply.speaking ? Math.max(0, output.writtenMs - reply.startWrittenMs) : 0;
        reply.cut = { playedMs: writtenMs, heard: this.heard(reply, writtenMs) };
      }
    } finally {
      if (this.active === reply) this.active = undefined;
      if (reply.speaking) {
        this.host.speaking?.(false);
        events.emit('agent_speech_ended', { text: reply.text, interrupted: abort.signal.aborted });
      }
      done();
    }
    return { text: reply.text, cut: reply.cut, ...(failed !== undefined ? { failed } : {}) };
  }

  /** The answer's first audio goes out: the turn's latency record (`turn` event, metrics). */
  private answerAudio(turn: ReplyTurn | undefined, answerSent: boolean): void {
    const ts = turn?.ts;
    if (!turn || !ts || !answerSent || ts.firstAudioOut !== undefined) return;
    ts.firstAudioOut = this.clock.now();
    const latency = latencyOf(ts);
    if (!latency) return;
    this.host.metrics.turns.push(turn.agent !== undefined ? { ...latency, agent: turn.agent } : latency);
    this.host.events.emit('turn', { index: turn.index, userText: turn.userText, timestamps: { ...ts }, latency, ...(turn.preemption ? { preemption: turn.preemption } : {}), ...(turn.agent !== undefined ? { agent: turn.agent } : {}) });
  }

  private addUsage(u: LlmUsage): void {
    const usage = this.host.usage;
    usage.llmPromptTokens += u.promptTokens;
    usage.llmCompletionTokens += u.completionTokens;
    this.host.events.emit('usage', { ...usage });
  }
}

/**
 * The agent's tool loop over `work` (which it extends), with the tools, step limit and hooks of
 * `opts`; `onUsageEstimate` counts the requests cut before their usage came. Each request's first
 * token (text or a tool call) has the session's deadline (`firstTokenTimeoutMs`, default 15 s):
 * past it the loop throws a `TimeoutError`.
 */
export async function* agentLoop(opts: Pick<VoiceSessionOptions, 'llm' | 'tools' | 'maxToolSteps' | 'toolHooks'>, work: ChatMessage[], signal?: AbortSignal, onUsageEstimate?: (usage: LlmUsage) => void, session?: Pick<VoiceSessionOptions, 'firstTokenTimeoutMs' | 'clock'>): AsyncGenerator<LoopEvent> {
  const hooks = opts.toolHooks;
  const clock = session?.clock ?? realClock;
  const firstMs = session?.firstTokenTimeoutMs ?? 15_000;
  const ac = linkedAbort(signal);
  let timedOut: TimeoutError | undefined;
  let timer: ClockTimer | undefined;
  const arm = () => {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(() => {
      timedOut = new TimeoutError(`${opts.llm.provider} sent no first token within ${firstMs} ms (the session's firstTokenTimeoutMs): the reply was abandoned`, { provider: opts.llm.provider });
      ac.abort();
    }, firstMs);
  };
  arm();
  try {
    for await (const ev of runToolLoop(opts.llm, work, { tools: opts.tools, maxSteps: opts.maxToolSteps, signal: ac.signal, onUsageEstimate, beforeToolCall: hooks?.beforeToolCall, afterToolCall: hooks?.afterToolCall, toolErrorMessage: hooks?.toolErrorMessage, hookTimeoutMs: hooks?.hookTimeoutMs })) {
      // The tools' results are in: the loop asks the model again, a new first token to wait for.
      if (ev.type === 'tool_result') arm();
      else if (ev.type !== 'usage') clock.clearTimeout(timer);
      yield ev;
    }
  } catch (err) {
    if (timedOut && !signal?.aborted) throw timedOut;
    throw err;
  } finally {
    clock.clearTimeout(timer);
    ac.dispose();
  }
  if (timedOut && !signal?.aborted) throw timedOut;
}

/** `text` cut at `chars` characters, rounded down to a whole word (never mid-word), trimmed. */
export function wholeWords(text: string, chars: number): string {
  if (chars <= 0) return '';
  if (chars >= text.length) return text.trim();
  const inWord = !/\s/.test(text[chars]!) && !/\s/.test(text[chars - 1]!);
  const cut = inWord ? text.slice(0, chars).search(/\S*$/) : chars;
  return text.slice(0, cut).trim();
}

/** A failed `output.write()` as the error that ends the call: a voxline error as is, else a `DeviceError` naming it. */
export function outputError(err: unknown): VoxlineError {
  return err instanceof VoxlineError ? err : new DeviceError(`The audio output failed (its write() threw): ${String((err as Error)?.message ?? err)}`, { cause: err });
}

/** Resolves when `p` settles or `signal` aborts, whichever comes first. */
export function waitOrAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, resolve).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
