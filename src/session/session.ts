import { EventEmitter } from 'eventemitter3';
import type { AudioOutput, AudioInput } from '../adapters/types';
import { AuthError, BudgetExceededError, ConfigError, VoxlineError, ProviderError, ToolError } from '../errors';
import { Agent, AgentRoster, type Handoff, type HandoffOptions, MAX_HANDOFFS_PER_TURN } from './agent';
import { checkRunArguments, checkSessionOptions } from './options';
import { SESSION_EVENTS } from '../option-names';
import { checkEventName } from '../provider';
import { appendHistory, hangUpPhraseIn, withInstructions } from '../llm/history';
import type { ChatMessage } from '../llm/types';
import { type Clock, type ClockTimer, realClock } from '../streams/clock';
import type { Transcription } from '../stt/types';
import { SessionMetrics, type TurnTimestamps, type Usage, costOf } from './metrics';
import { type ActiveReply, type Played, ReplyPath, type ReplyTurn } from './reply';
import { PREEMPT_WAIT_MS, Speculation, normalizeTurnText } from './preempt';
import { paceInput } from './pace';
import { RealtimeBrain } from './realtime';
import { TurnTaker } from './turns';
import type { RealtimeSessionOptions, TranscriptEntry, VoiceSessionEvents, VoiceSessionOptions } from './types';

export type { BargeInOptions, PreemptionReport, RealtimeSessionOptions, TranscriptEntry, TurnEndPolicy, TurnEvent, VoiceSessionEvents, VoiceSessionOptions } from './types';

/**
 * The voice agent: wires an {@link SttStream}, an {@link LlmStream} and a {@link TtsStream}
 * between an audio input and an audio output, with turn-taking, barge-in, tools and per-turn
 * latency metrics.
 */
export class VoiceSession extends EventEmitter<VoiceSessionEvents> {
  /** The conversation so far (user, assistant and tool messages). */
  readonly history: ChatMessage[] = [];
  /** Per-turn latencies. */
  readonly metrics = new SessionMetrics();
  /** Both sides, in time order (`at`), with interruptions. */
  readonly transcript: TranscriptEntry[] = [];
  /** What the session consumed. */
  readonly usage: Usage = { sttSeconds: 0, llmPromptTokens: 0, llmCompletionTokens: 0, ttsCharacters: 0 };

  private readonly opts: VoiceSessionOptions;
  private readonly stop = new AbortController();
  private readonly turns: TurnTaker;
  private readonly replies: ReplyPath;
  /** With a realtime model as the brain: it replaces the STT, turn-taking and reply path. */
  private readonly brain?: RealtimeBrain;
  private output?: AudioOutput;
  private transcription?: Transcription;
  private queue: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private turnIndex = 0;
  /** Sequence number of the latest user turn queued for a reply. */
  private lastTurn = 0;
  private closing?: Promise<void>;
  private closeReason = 'closed';
  private running = false;
  /** The error that ended the call, thrown by `run()`. */
  private fatal?: VoxlineError;
  private resume?: { text: string; timer: ClockTimer };
  /** Tasks queued or running, speculative replies aside. */
  private busy = 0;
  /** The speculative reply waiting for its turn to be confirmed. */
  private spec?: Speculation;
  /** Speculative replies started since the last turn (at most `maxSpeculativeRequests`). */
  private speculations = 0;
  /** Speculative replies dropped since the last turn, for that turn's report. */
  private missed = { misses: 0, wastedTokens: 0, wastedChars: 0 };
  /** Which agent speaks now, and the switch to the next. */
  private readonly agents: AgentRoster;

  /** Checks the options at once (a wrong one is a `ConfigError` naming it); nothing starts before `run()`. */
  constructor(options: VoiceSessionOptions | RealtimeSessionOptions) {
    super();
    const realtime = options && 'realtime' in options && options.realtime ? (options as RealtimeSessionOptions) : undefined;
    if (realtime && ('stt' in realtime || 'llm' in realtime)) throw new ConfigError('VoiceSession takes either a realtime model or stt and llm, not both');
    if (realtime && realtime.realtime.output === 'text' && !realtime.tts) throw new ConfigError('A realtime model with text output needs a tts to speak its replies');
    if (realtime && realtime.realtime.output !== 'text' && realtime.tts) throw new ConfigError(`A realtime model with audio output speaks itself: give it output: 'text' to use a tts`);
    if (!realtime && (!options || !('stt' in options) || !options.stt || !options.llm || !options.tts)) throw new ConfigError('VoiceSession needs stt, llm and tts (or a realtime model)');
    if (options.historyLimit !== undefined && !(options.historyLimit >= 2)) throw new ConfigError('historyLimit must be at least 2');
    checkSessionOptions(options as Partial<VoiceSessionOptions>);
    if (options.budget !== undefined && !options.prices) throw new ConfigError('budget needs prices');
    if (options.speakingRate !== undefined && !(options.speakingRate > 0)) throw new ConfigError('speakingRate must be a positive number of characters per second');
    // In realtime mode the pipeline stages are absent: run(), speak() and close() branch on the brain first.
    this.opts = options as VoiceSessionOptions;
    this.agents = new AgentRoster(this.opts, options.agent);
    const te = this.opts.turnEnd;
    if (te !== undefined && te !== 'speech_final' && te !== 'utterance_end' && !(typeof te === 'object' && te.silenceMs > 0)) throw new ConfigError(`turnEnd must be 'speech_final', 'utterance_end' or { silenceMs }`);
    this.replies = new ReplyPath(this.opts, {
      events: this,
      usage: this.usage,
      metrics: this.metrics,
      // A TTS failure: a refused key is left to endOnAuthError, which the reply's end calls.
      fail: (err) => this.fail(err, this.logFromReply(err)),
      outputFailed: (err) => this.outputFailed(err),
      // While the agent talks, the user's speech may be a barge-in: the STT sends it frame by frame.
      speaking: (on) => this.transcription?.agentSpeaking?.(on),
    });
    if (realtime) {
      this.brain = new RealtimeBrain(
        realtime,
        {
          events: this, usage: this.usage, metrics: this.metrics, history: this.history,
          pushHistory: (...m) => this.pushHistory(...m), userTurn: (t) => this.onUserTurn(t),
          record: (played, at) => this.record(played, at), checkBudget: () => this.checkBudget(), fail: (err) => this.fail(err), outputFailed: (err) => this.outputFailed(err), replies: this.replies,
          agent: () => this.agents.current, handedOff: (h) => this.switchAgent(h.to, h.reason, 'tool'),
        },
        this.stop.signal,
      );
    }
    this.turns = new TurnTaker(
      this.opts,
      {
        speechStarted: (source) => this.emit('user_speech_started', { source }),
        transcript: (text, final) => this.emit('transcript', { text, final }),
        bargeIn: (eventAt, local) => this.interrupt(eventAt, local),
        words: () => {
          // Words followed the local speech start: it was a real barge-in.
          this.clock.clearTimeout(this.resume?.timer);
          this.resume = undefined;
        },
        // The turn is taken: nothing waits on the provider's end of speech now, its quiet hold may end.
        userTurn: (turn) => { this.transcription?.turnEnded?.(); this.onUserTurn(turn); },
        speculate: (text) => this.speculate(text),
        unspeculate: () => this.dropSpeculation(),
        speechEnded: () => this.transcription?.finalize(),
        audio: (seconds) => (this.usage.sttSeconds += seconds),
        replying: () => this.replies.current !== undefined,
        fail: (err) => this.fail(err),
      },
      this.stop.signal,
    );
  }

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  /** True while the agent's audio is playing. */
  get agentSpeaking(): boolean {
    return this.current?.speaking ?? false;
  }

  /**
   * As `EventEmitter`'s, but a name the session never emits (`'turns'`, `'close'`) is a
   * `ConfigError` naming the nearest event, rather than a listener that is never called.
   */
  override on<T extends EventEmitter.EventNames<VoiceSessionEvents>>(event: T, fn: EventEmitter.EventListener<VoiceSessionEvents, T>, context?: unknown): this {
    checkEventName('VoiceSession.on()', event, SESSION_EVENTS);
    return super.on(event, fn, context);
  }

  /** As {@link VoiceSession.on}. */
  override addListener<T extends EventEmitter.EventNames<VoiceSessionEvents>>(event: T, fn: EventEmitter.EventListener<VoiceSessionEvents, T>, context?: unknown): this {
    checkEventName('VoiceSession.addListener()', event, SESSION_EVENTS);
    return super.addListener(event, fn, context);
  }

  /** As {@link VoiceSession.on}, for one call. */
  override once<T extends EventEmitter.EventNames<VoiceSessionEvents>>(event: T, fn: EventEmitter.EventListener<VoiceSessionEvents, T>, context?: unknown): this {
    checkEventName('VoiceSession.once()', event, SESSION_EVENTS);
    return super.once(event, fn, context);
  }

  /** The reply being played, if any. */
  private get current(): ActiveReply | undefined {
    return this.brain ? this.brain.current : this.replies.current;
  }

  /**
   * Runs the conversation until the input ends, the user hangs up, `close()` is called or
   * `signal` aborts. Resolves once everything is closed.
   *
   * The input is heard as a microphone delivers it: one that runs more than a second ahead of the
   * session's clock (a file or a pipe read at full speed) is held back to real time, so that the
   * agent answers each question before the next is heard. To run a call faster than real time, give
   * the session and its providers a testing clock (`virtualClock()` or `acceleratedClock()` from
   * `voxline/testing`): real time is then the clock's.
   *
   * Rejects (once everything is closed) when the call cannot go on: the STT (or a realtime model)
   * failed for good, the output failed (its `write()` threw: a `DeviceError` unless it threw a
   * voxline error), or a provider refused its key (`AuthError`, whatever `onProviderError` says:
   * every later turn would fail the same way).
   * Such an error is reported once: by the rejection (and the `error` event, to a listener), never
   * also by the logger, which gets only the errors the call recovers from.
   * @throws ConfigError (the promise rejects, nothing starts) when `input` is not an async iterable
   * of frames or `output` not an `AudioOutput`.
   */
  async run(call: { input: AudioInput; output: AudioOutput; signal?: AbortSignal | undefined }): Promise<void> {
    if (this.running) throw new ConfigError('VoiceSession.run() was already called');
    checkRunArguments(call);
    const { input, output, signal } = call;
    this.running = true;
    this.output = output;
    this.replies.output = output;
    this.startedAt = this.clock.now();
    const onAbort = () => void this.close({ reason: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });
    const greeting = this.agents.current.greeting;
    if (greeting) this.enqueue(() => this.speak(greeting, { record: true }));
    try {
      const paced = paceInput(input, this.clock, this.stop.signal);
      if (this.brain) await this.brain.run(paced, output);
      else await this.listen(paced);
      // The caller hung up: nothing more is said (the reply in progress stops at once).
      if (output.closed) await this.close({ reason: 'caller hung up' });
      // The agent finishes what it is saying, unless the caller goes meanwhile (a call's socket
      // closes a moment after its stop message): a reply still waiting on a provider is not
      // waited for then.
      await this.untilDoneOrGone(output);
      await this.close({ reason: 'input ended', drain: true });
    } catch (err) {
      if (!this.stop.signal.aborted) {
        // The session cannot hear (or its realtime model is gone for good): the call ends, loudly.
        this.failFatally(err);
        await this.close({ reason: this.brain ? 'provider error' : 'stt failed' });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.closing;
    }
    if (this.fatal) throw this.fatal;
  }

  /** Waits for the queued replies, or for the output to close (then ends the call). */
  private async untilDoneOrGone(output: AudioOutput): Promise<void> {
    let timer: ClockTimer | undefined;
    const gone = new Promise<void>((resolve) => {
      const check = () => (output.closed ? resolve() : void (timer = this.clock.setTimeout(check, 100)));
      check();
    });
    await Promise.race([this.queue, gone]);
    this.clock.clearTimeout(timer);
    if (output.closed) await this.close({ reason: 'caller hung up' });
    await this.queue;
  }

  /** The pipeline's input side: STT events into turns until the input ends. */
  private async listen(input: AudioInput): Promise<void> {
    void (this.agents.current.speech?.tts ?? this.opts.tts).warmup?.().catch(() => {});
    this.transcription = this.opts.stt.transcribe(this.turns.tap(input), { signal: this.stop.signal });
    for await (const ev of this.transcription) this.turns.onStt(ev);
    // The input ended: let the agent finish what it is saying.
    this.turns.flush();
  }

  /**
   * Speaks `text` now (after anything already queued).
   * @throws ConfigError (the promise rejects) when the session is not running: call `run()` first.
   */
  say(text: string): Promise<void> {
    if (!this.running || !this.output) return Promise.reject(new ConfigError('VoiceSession.say() needs a running session: call it after run() has started (use the greeting option to speak first)'));
    return this.enqueue(() => this.speak(text, { record: true }));
  }

  /**
   * Ends the session: stops listening, cuts or drains the agent's audio, closes the providers'
   * connections with their proper close messages, and emits `closed`.
   */
  close(options: { reason?: string | undefined; drain?: boolean | undefined } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.closeReason = options.reason ?? 'closed';
      this.turns.dispose();
      this.clock.clearTimeout(this.resume?.timer);
      this.dropSpeculation();
      // A drain lets the reply being spoken finish; one not yet speaking (still waiting on the
      // LLM or the TTS, for up to their timeouts) is stopped like any other.
      if (options.drain && this.current?.speaking) await this.current.done.catch(() => {});
      else this.current?.abort.abort();
      this.stop.abort();
      const cleanup = (async () => {
        if (options.drain) await this.output?.drain().catch(() => {});
        await this.current?.done.catch(() => {});
        await this.brain?.close().catch(() => {});
        await this.output?.close().catch(() => {});
        await this.opts.tts?.close?.().catch(() => {});
        await this.agents.close();
      })();
      // A hard deadline (real time): a provider or output that never finishes closing does not
      // keep the session, a drain or a process exit waiting.
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([cleanup, new Promise<void>((r) => (deadline = setTimeout(r, this.opts.closeTimeoutMs ?? 5000)))]);
      clearTimeout(deadline);
      this.emit('closed', { reason: this.closeReason });
    })();
    return this.closing;
  }

  /**
   * Reports an error: on the `error` event, or with nobody listening, to the logger unless `log`
   * is false: `run()` rejects with it (printed and thrown, one failure would be reported twice),
   * or it is a refused key that {@link endOnAuthError} will see.
   */
  private fail(err: unknown, log = true): VoxlineError {
    const e = err instanceof VoxlineError ? err : new ProviderError(String((err as Error)?.message ?? err), { cause: err });
    if (this.listenerCount('error')) this.emit('error', e);
    else if (log) this.log(e);
    return e;
  }

  /** Whether to log `err` when reported from a reply: not a refused key, which ends a pipeline call ({@link endOnAuthError}). */
  private logFromReply(err: unknown): boolean {
    return this.brain !== undefined || !(err instanceof AuthError);
  }

  /** One line for the logger (default `console.warn`). */
  private log(e: VoxlineError): void {
    try {
      (this.opts.logger ?? console).warn(`voxline: ${e.name} (${e.code}${e.provider ? `, ${e.provider}` : ''}): ${e.message}`);
    } catch {
      // a logger that throws loses the message, not the call
    }
  }

  /** An error the call cannot go on after: the first is the one `run()` rejects with. */
  private failFatally(err: unknown): void {
    if (this.fatal) this.fail(err);
    else this.fatal = this.fail(err, false);
  }

  /** The output failed: nothing more can be said, the call ends and `run()` rejects with its error. */
  private outputFailed(err: VoxlineError): void {
    if (this.stop.signal.aborted) return;
    this.failFatally(err);
    void this.close({ reason: 'output failed' });
  }

  /** A refused key ends the call (`run()` rejects with it): no later turn could succeed. */
  private async endOnAuthError(...errors: unknown[]): Promise<boolean> {
    const auth = errors.find((e): e is AuthError => e instanceof AuthError);
    if (!auth) return false;
    const ending = !this.stop.signal.aborted;
    if (ending) this.fatal ??= auth;
    // Not logged when reported (see logFromReply()): with nobody listening and run() rejecting with another error, log it now.
    if (this.fatal !== auth && !this.listenerCount('error')) this.log(auth);
    if (!ending) return false;
    await this.close({ reason: 'provider error' });
    return true;
  }

  private onUserTurn({ text, endOfSpeech, sttFinal }: { text: string; endOfSpeech: number; sttFinal: number }): void {
    this.emit('user_turn', { text });
    this.addTranscript({ role: 'user', text, at: endOfSpeech - this.startedAt });
    const spec = this.spec;
    this.spec = undefined;
    this.speculations = 0;
    this.clock.clearTimeout(spec?.timer);
    const hangUp = hangUpPhraseIn(text, this.opts.hangUpPhrases);
    if (spec && !hangUp && spec.norm === normalizeTurnText(text)) {
      // The turn ended as speculated: the reply prepared for it plays now.
      Object.assign(spec.ts, { endOfSpeech, sttFinal });
      Object.assign(spec.turn, { index: ++this.turnIndex, userText: text, preemption: { hit: true, ...this.takeMissed() } });
      this.pushHistory({ role: 'user', content: text });
      this.metrics.preemption.hits++;
      this.emit('preemption', { hit: true, text, wastedTokens: 0, wastedChars: 0 });
      spec.settle(true);
      return;
    }
    spec?.settle(false);
    if (hangUp) {
      this.pushHistory({ role: 'user', content: text });
      void this.enqueue(async () => {
        if (this.opts.goodbye) await this.speak(this.opts.goodbye, { record: true });
        await this.close({ reason: 'hang-up', drain: true });
      });
      return;
    }
    // A realtime model answers on its own.
    if (this.brain) return void this.pushHistory({ role: 'user', content: text });
    const ts: TurnTimestamps = { endOfSpeech, sttFinal, llmRequest: 0 };
    // A turn whose reply has not started by the time the user spoke again is not answered on its
    // own (that answer would come late, and a second one after it): its words go into history
    // and the newest turn's reply answers both.
    const seq = ++this.lastTurn;
    void this.enqueue(() => (seq === this.lastTurn ? this.respond(text, ts) : Promise.resolve(this.pushHistory({ role: 'user', content: text }))));
  }

  private enqueue(task: () => Promise<void>, speculative = false): Promise<void> {
    if (!speculative) this.busy++;
    const next = this.queue
      .then(() => (this.stop.signal.aborted ? undefined : task()))
      .catch((err) => void this.fail(err))
      .finally(() => void (speculative || this.busy--));
    this.queue = next;
    return next;
  }

  /**
   * Starts a reply on a likely end of the user's turn (see `preemptive`), if the agent is idle. A
   * speculation on other text is dropped first.
   */
  private speculate(text: string): void {
    if (this.opts.preemptive === false || this.brain || this.stop.signal.aborted) return;
    const norm = normalizeTurnText(text);
    if (!norm || this.spec?.norm === norm) return;
    this.dropSpeculation();
    // Past the cap, the reply waits for the real end of the turn.
    if (this.busy > 0 || this.speculations >= (this.opts.maxSpeculativeRequests ?? 3)) return;
    this.speculations++;
    const spec = new Speculation(text);
    this.spec = spec;
    spec.timer = this.clock.setTimeout(() => this.spec === spec && this.dropSpeculation(), PREEMPT_WAIT_MS);
    void this.enqueue(() => this.respond(text, spec.ts, spec), true);
  }

  /** Drops the speculative reply, if any: nothing of it is played or recorded. */
  private dropSpeculation(): void {
    const spec = this.spec;
    if (!spec) return;
    this.spec = undefined;
    this.clock.clearTimeout(spec.timer);
    spec.settle(false);
  }

  /** The misses since the last turn, for its report; resets them. */
  private takeMissed(): typeof this.missed {
    const m = this.missed;
    this.missed = { misses: 0, wastedTokens: 0, wastedChars: 0 };
    return m;
  }

  private pushHistory(...messages: ChatMessage[]): void {
    appendHistory(this.history, messages, this.opts.historyLimit);
  }

  /**
   * Interrupts the agent: abort the LLM, stop TTS, drop queued audio, keep what was heard. When the
   * local VAD caused it, the rest of the reply is kept to be said if no words follow.
   */
  private interrupt(eventAt: number, local = false): void {
    const reply = this.replies.cut();
    if (!reply) return;
    const latencyMs = this.clock.now() - eventAt;
    this.metrics.bargeIn.push(latencyMs);
    const { heard, playedMs } = reply.cut!;
    this.emit('interrupted', { heardText: heard, fullText: reply.text, latencyMs, playedMs });
    if (local && this.opts.bargeIn !== false) {
      this.clock.clearTimeout(this.resume?.timer);
      // Resume at the start of the sentence that was cut off.
      const cut = reply.text.indexOf(heard) >= 0 ? heard.length : 0;
      const sentenceStart = Math.max(0, ...['. ', '! ', '? '].map((p) => reply.text.lastIndexOf(p, cut) + 2).filter((i) => i > 1 && i <= cut));
      const rest = reply.text.slice(sentenceStart).trim();
      const resume = {
        text: rest,
        timer: this.clock.setTimeout(() => {
          if (this.resume !== resume || this.stop.signal.aborted) return;
          this.resume = undefined;
          // No words followed: noise, not the user. Say the rest.
          if (resume.text) void this.enqueue(() => this.speak(resume.text, { record: true }));
        }, this.opts.bargeIn?.resumeAfterMs ?? 1200),
      };
      this.resume = resume;
    }
  }

  /**
   * One agent turn: LLM (with tools) → sentence chunks → TTS → output. A speculative one (`spec`)
   * waits for its turn's confirmation before anything is played, run or recorded.
   */
  private async respond(userText: string, ts: TurnTimestamps, spec?: Speculation, cont?: ReplyTurn): Promise<void> {
    const user: ChatMessage = { role: 'user', content: userText };
    if (!spec && !cont) this.pushHistory(user);
    const agent = this.agents.current;
    const work = withInstructions(spec ? [...this.history, user] : this.history, agent.instructions);
    const base = work.length;
    const turn: ReplyTurn = cont ?? spec?.turn ?? { ts, index: ++this.turnIndex, userText, ...(this.missed.misses ? { preemption: { hit: false, ...this.takeMissed() } } : {}) };
    if (agent.name !== undefined) turn.agent = agent.name;
    const firstRequest = ts.llmRequest;
    const abort = spec?.abort ?? new AbortController();
    const onStop = () => abort.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    const gate = spec && (() => spec.decision());
    const { chunks, done, completionTokens, handoff } = this.replies.generate(work, ts, abort.signal, gate, agent);
    // The answer after a handoff is timed from the turn's first request, as after a tool call.
    if (cont) ts.llmRequest = firstRequest;
    const played = await this.replies.play(chunks, abort, turn, gate, agent.speech);
    const llmError = await done;
    this.stop.signal.removeEventListener('abort', onStop);
    if (spec && !(await spec.decision())) {
      // Dropped: nothing was played or recorded; what it used is reported (and billed).
      const wasted = { wastedTokens: completionTokens(), wastedChars: played.text.length };
      const m = this.metrics.preemption;
      m.misses++;
      m.wastedTokens += wasted.wastedTokens;
      m.wastedChars += wasted.wastedChars;
      this.missed = { misses: this.missed.misses + 1, wastedTokens: this.missed.wastedTokens + wasted.wastedTokens, wastedChars: this.missed.wastedChars + wasted.wastedChars };
      if (!this.stop.signal.aborted) this.emit('preemption', { hit: false, text: userText, ...wasted });
      return;
    }
    // Tool calls and results the loop added become part of the history.
    this.pushHistory(...work.slice(base));
    this.record(played, ts.firstAudioOut ?? this.clock.now());
    if (llmError) this.fail(llmError, this.logFromReply(llmError));
    if (await this.endOnAuthError(llmError, played.failed)) return;
    // The gateway's spend cap: every later turn would be refused too. Say so, then end the call.
    if (llmError instanceof BudgetExceededError && !this.stop.signal.aborted) {
      await this.speak(this.opts.goodbye ?? 'I have to end the call here. Goodbye!', { record: true });
      return void (await this.close({ reason: 'budget reached', drain: true }));
    }
    // The LLM or the TTS failed: what was heard is recorded above; now apologise or end the call.
    if ((llmError || played.failed !== undefined) && !this.stop.signal.aborted) {
      if (this.opts.onProviderError === 'close') await this.close({ reason: 'provider error' });
      else await this.speak(this.opts.apology ?? 'Sorry, I ran into a problem. Could you say that again?', { record: true });
    }
    this.checkBudget();
    const next = handoff();
    if (next && !llmError) await this.handedOff(next, userText, ts, turn, abort.signal.aborted);
  }

  /**
   * A tool handed the call over (its result is in history): the new agent takes over and, unless
   * the reply was cut off (a barge-in: the user's next words go to the new agent), answers the
   * same turn.
   */
  private async handedOff(next: Handoff, userText: string, ts: TurnTimestamps, turn: ReplyTurn, cut: boolean): Promise<void> {
    if (this.stop.signal.aborted || !(await this.switchAgent(next.to, next.reason, 'tool'))) return;
    turn.handoffs = (turn.handoffs ?? 0) + 1;
    if (turn.handoffs > MAX_HANDOFFS_PER_TURN) return void this.fail(new ToolError('handoff', `More than ${MAX_HANDOFFS_PER_TURN} handoffs in one turn: ${next.to.name} has the call but does not answer until the user speaks again`));
    if (!cut && !this.stop.signal.aborted) await this.respond(userText, ts, undefined, turn);
  }

  /** Switches to `to` and emits `handoff`; false (the error reported) when its voice cannot be spoken. */
  private async switchAgent(to: Agent, reason: string | undefined, source: 'tool' | 'code'): Promise<boolean> {
    let info;
    try {
      info = await this.agents.switchTo(to, this.history, { reason, source }, (err) => this.fail(err));
    } catch (err) {
      this.fail(err);
      return false;
    }
    this.brain?.agentChanged();
    this.emit('handoff', info);
    return true;
  }

  /**
   * Hands the call to `agent` from code: once what is being said is over, its instructions, tools
   * and voice take over, `handoff` is emitted and its greeting, if any, is said. Resolves then.
   * @throws ConfigError (the promise rejects) when the session is not running, or when the TTS cannot speak the agent's voice.
   */
  handoff(agent: Agent, options: HandoffOptions = {}): Promise<void> {
    if (!this.running || !this.output) return Promise.reject(new ConfigError('VoiceSession.handoff() needs a running session: call it after run() has started (the agent option chooses the first agent)'));
    if (!(agent instanceof Agent)) return Promise.reject(new ConfigError('VoiceSession.handoff() needs an Agent'));
    try {
      this.agents.configOf(agent);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async () => {
      if ((await this.switchAgent(agent, options.reason, 'code')) && agent.greeting) await this.speak(agent.greeting, { record: true });
    });
  }

  /** The name of the agent that has the call (undefined: the session's own options). */
  get agent(): string | undefined {
    return this.agents.name;
  }

  /** Speaks fixed text (greeting, goodbye, apology). */
  private async speak(text: string, { record }: { record: boolean }): Promise<void> {
    if (this.brain) return this.brain.say(text);
    const chunks = this.replies.fixed(text);
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    const startAt = this.clock.now();
    const played = await this.replies.play(chunks, abort, undefined, undefined, this.agents.current.speech);
    this.stop.signal.removeEventListener('abort', onStop);
    if (record) this.record(played, startAt);
    await this.endOnAuthError(played.failed);
  }

  /**
   * Records what the agent said in history and transcript; cut off by a barge-in, what the user
   * heard of it (as the `interrupted` event said), marked as cut off, or nothing if not a whole
   * word of it was heard.
   */
  private record({ text, cut }: Played, at: number): void {
    if (cut && (cut.playedMs <= 0 || !cut.heard)) return;
    if (!cut && !text) return;
    const said = cut ? cut.heard : text;
    this.pushHistory({ role: 'assistant', content: cut ? `${said}…` : said });
    const agent = this.agents.name;
    this.addTranscript({ role: 'agent', text: said, at: at - this.startedAt, ...(cut ? { interrupted: true } : {}), ...(agent !== undefined ? { agent } : {}) });
  }

  /**
   * Adds an entry in time order: a reply cut off by the final that ended the user's turn is
   * recorded after that turn, but started before it.
   */
  private addTranscript(entry: TranscriptEntry): void {
    let i = this.transcript.length;
    while (i > 0 && this.transcript[i - 1]!.at > entry.at) i--;
    this.transcript.splice(i, 0, entry);
  }

  private checkBudget(): void {
    const { budget, prices } = this.opts;
    if (budget === undefined || !prices || this.closing) return;
    if (costOf(this.usage, prices) >= budget) {
      void this.enqueue(async () => {
        await this.speak(this.opts.goodbye ?? 'I have to end the call here. Goodbye!', { record: true });
        await this.close({ reason: 'budget reached', drain: true });
      });
    }
  }

  /** Estimated cost so far (needs `prices`). */
  get cost(): number {
    return this.opts.prices ? costOf(this.usage, this.opts.prices) : 0;
  }
}
