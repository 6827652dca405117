import type { EventEmitter } from 'eventemitter3';
import type { AudioInput, AudioOutput } from '../adapters/types';
import type { AudioFrame } from '../audio/frame';
import { Resampler } from '../audio/resample';
import { ConfigError, ProviderError, ToolError, VoxlineError, isAbortError } from '../errors';
import { callTool, outcomeContent } from '../llm/index';
import type { ChatMessage, ToolCall } from '../llm/types';
import type { RealtimeConnection, RealtimeEvent, RealtimeModel } from '../realtime/types';
import { type AgentConfig, Handoff } from './agent';
import { Channel, sleep } from '../streams/channel';
import { realClock } from '../streams/clock';
import { type SessionMetrics, type TurnTimestamps, type Usage, latencyOf } from './metrics';
import { type ActiveReply, type Played, type ReplyPath, outputError, waitOrAbort, wholeWords } from './reply';
import { SentenceChunker } from '../tts/chunker';
import { TurnTaker } from './turns';
import type { RealtimeSessionOptions, VoiceSessionEvents } from './types';

/** What the realtime brain needs from the session it serves. */
export interface RealtimeHost {
  readonly events: EventEmitter<VoiceSessionEvents>;
  readonly usage: Usage;
  readonly metrics: SessionMetrics;
  readonly history: ChatMessage[];
  pushHistory(...messages: ChatMessage[]): void;
  /** The user's turn ended (transcript known): events, transcript, history, hang-up phrases. */
  userTurn(turn: { text: string; endOfSpeech: number; sttFinal: number }): void;
  /** Records what the agent said or, cut off, what was heard of it. */
  record(played: Played, at: number): void;
  checkBudget(): void;
  fail(err: unknown): void;
  /** The output failed (its `write()` threw): the call cannot go on. */
  outputFailed(err: VoxlineError): void;
  /** The session's reply path, which speaks a text-output model's replies through its `tts`. */
  readonly replies: ReplyPath;
  /** The agent speaking now (default: the session's options). */
  agent?(): AgentConfig;
  /** A tool handed the call over: switch agents (the brain is updated); false when refused. */
  handedOff?(to: Handoff): Promise<boolean>;
}

/** One segment of a reply's audio: an assistant audio item of the model. */
interface Segment {
  itemId: string;
  text: string;
  audioMs: number;
  /** Output position at which its first sample was written. */
  startWrittenMs?: number;
}

/** A reply of the model: one or more responses (tool calls continue it), played in order. */
interface RealtimeReply extends ActiveReply {
  responseId: string;
  /** Audio received and not yet written to the output, ms. */
  aheadMs: number;
  /** The model sent more audio ahead of playback than allowed: the rest of it is dropped. */
  overflowed?: boolean;
  serverDone: boolean;
  segments: Segment[];
  audio: Channel<{ frame: AudioFrame; segment: Segment }>;
  calls: ToolCall[];
  steps: number;
  ts?: TurnTimestamps;
  index: number;
  userText: string;
  startedAt: number;
  finished: boolean;
  /** Tool results were sent; the next response continues this reply. */
  followUp: boolean;
  /** Text output: the sentence chunks for the session's TTS, and the assistant text item being written. */
  chunks?: Channel<string>;
  chunker?: SentenceChunker;
  textItemId?: string;
}

const DEFAULT_SAY = (text: string) => `Say exactly the following, and nothing else: "${text}"`;

/**
 * The most audio of a reply held ahead of playback (10 minutes: 28.8 MB at 24 kHz). A model that
 * sends more has its response cancelled and cut there, with a `ProviderError`.
 */
export const MAX_AUDIO_AHEAD_MS = 600_000;

/**
 * A `VoiceSession`'s brain when it is a speech-to-speech model: input audio goes to the model,
 * its turn detection ends the user's turns, its audio goes to the output, tools run with the
 * session's hooks, and on barge-in the response is cancelled and the model's copy of its audio
 * truncated where the user stopped hearing it.
 */
export class RealtimeBrain {
  private conn?: RealtimeConnection;
  private output?: AudioOutput;
  private reply?: RealtimeReply;
  private readonly turns: TurnTaker;
  private stopped?: { endOfSpeech: number; at: number; text?: string };
  /** User turns by item, until their transcript arrives. */
  private readonly userItems = new Map<string, { endOfSpeech: number; at: number; text?: string }>();
  private turnIndex = 0;
  private saying: (() => void)[] = [];
  private readonly model: RealtimeModel;
  private ready!: () => void;
  private readonly connected = new Promise<void>((resolve) => (this.ready = resolve));

  constructor(
    private readonly opts: RealtimeSessionOptions,
    private readonly host: RealtimeHost,
    private readonly signal: AbortSignal,
  ) {
    this.model = opts.realtime;
    this.turns = new TurnTaker(
      { bargeIn: opts.bargeIn, vad: opts.vad, clock: opts.clock },
      {
        speechStarted: (source) => host.events.emit('user_speech_started', { source }),
        transcript: () => {},
        bargeIn: (eventAt) => this.interrupt(eventAt),
        words: () => {},
        userTurn: () => {},
        audio: (seconds) => (host.usage.sttSeconds += seconds),
        replying: () => this.reply !== undefined,
        fail: (err) => host.fail(err),
      },
      signal,
    );
  }

  private now(): number {
    return (this.opts.clock ?? realClock).now();
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return (this.opts.clock ?? realClock).sleep(ms, signal);
  }

  /** The deadline of every wait on the model: its `stallTimeoutMs`, the pipeline LLM's 15 s by default. */
  private get deadlineMs(): number {
    return this.model.stallTimeoutMs ?? 15_000;
  }

  /** The reply being played, if any. */
  get current(): ActiveReply | undefined {
    return this.text ? this.host.replies.current : this.reply;
  }

  /** True when the model writes and the session's TTS speaks. */
  private get text(): boolean {
    return this.model.output === 'text';
  }

  /**
   * Connects, streams the input to the model and plays its replies until the input ends and the
   * last reply is over. Rejects when the connection fails for good.
   */
  async run(input: AudioInput, output: AudioOutput): Promise<void> {
    this.output = output;
    const agent = this.agent;
    const conn = await this.model.connect({ instructions: agent.instructions, tools: agent.tools, history: () => this.host.history, ...(agent.voice ? { voice: agent.voice } : {}) }, { signal: this.signal });
    this.conn = conn;
    // A handoff from code while connecting: the session gets the new agent's settings now.
    if (this.agent !== agent) this.agentChanged();
    this.ready();
    void this.opts.tts?.warmup?.().catch(() => {});
    const events = (async () => {
      for await (const ev of conn) this.onEvent(ev);
    })();
    const pump = (async () => {
      for await (const frame of this.turns.tap(input)) {
        if (this.signal.aborted) return;
        // Backpressure: a socket that cannot send fast enough slows the input.
        const wait = conn.appendAudio(frame);
        if (wait) await wait;
      }
    })();
    // A late failure of either (after the other ended the session) is not an unhandled rejection.
    pump.catch(() => {});
    events.catch(() => {});
    const ended = await Promise.race([pump.then(() => false), events.then(() => true)]);
    // The input ended: let the model answer the last turn and finish speaking. The wait is
    // bounded: the connection ends a response that stalls (at the model's deadline); without any
    // progress (a new reply, audio received or written) for twice that, the wait ends anyway.
    let mark = '';
    let since = this.now();
    while (!ended && !this.signal.aborted && (this.stopped || this.reply || this.saying.length)) {
      const r = this.reply;
      const progress = `${r?.responseId}:${r?.audioMs}:${r?.text.length}:${r?.serverDone}:${output.writtenMs}`;
      if (progress !== mark) [mark, since] = [progress, this.now()];
      else if (this.now() - since >= 2 * this.deadlineMs) break;
      const tick = new AbortController();
      const next = await Promise.race([events.then(() => 'ended'), ...(r ? [r.done.then(() => 'next')] : []), this.sleep(50, tick.signal).then(() => 'tick', () => 'tick')]);
      tick.abort();
      if (next === 'ended') break;
    }
  }

  /** Speaks `text` through the model (greeting, goodbye): resolves once it has been played. */
  async say(text: string): Promise<void> {
    await Promise.race([this.connected, this.sleep(2 * this.deadlineMs, this.signal)]).catch(() => {});
    const conn = this.conn;
    if (!conn || this.signal.aborted) return;
    const current = this.reply;
    if (current) {
      this.cut(current, this.now(), false);
      await current.done;
      // The server takes one response at a time: wait for the cancelled one's response.done.
      for (const until = this.now() + 2000; !current.serverDone && this.now() < until && !this.signal.aborted; ) await this.sleep(10, this.signal).catch(() => {});
    }
    const played = new Promise<void>((resolve) => this.saying.push(resolve));
    conn.respond({ instructions: (this.opts.sayInstructions ?? DEFAULT_SAY)(text), tools: false });
    // Bounded: a response that never comes must not hold the session's queue.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    this.signal.addEventListener('abort', onAbort, { once: true });
    await Promise.race([played, this.sleep(2 * this.deadlineMs, stop.signal)]).catch(() => {});
    stop.abort();
    this.signal.removeEventListener('abort', onAbort);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    this.turns.dispose();
    this.reply?.abort.abort();
    for (const r of this.saying.splice(0)) r();
    await this.conn?.close();
  }

  private onEvent(ev: RealtimeEvent): void {
    const r = this.reply;
    switch (ev.type) {
      case 'speech_started':
        this.host.events.emit('user_speech_started', { source: 'stt' });
        if (this.opts.bargeIn !== false) this.interrupt(this.now());
        return;
      case 'speech_stopped': {
        const at = this.now();
        const speechEndSec = Math.max(0, ev.audioEndMs - (this.model.silenceMs ?? 0)) / 1000;
        this.stopped = { endOfSpeech: Math.min(at, this.turns.wallTimeOf(speechEndSec)), at };
        this.userItems.set(ev.itemId, this.stopped);
        if (this.userItems.size > 16) this.userItems.delete(this.userItems.keys().next().value!);
        return;
      }
      case 'user_transcript': {
        const text = typeof ev.text === 'string' ? ev.text.trim() : '';
        const s = this.userItems.get(ev.itemId);
        this.userItems.delete(ev.itemId);
        if (!text || !s) return;
        s.text = text;
        this.host.userTurn({ text, endOfSpeech: s.endOfSpeech, sttFinal: s.at });
        if (r?.ts && r.ts.endOfSpeech === s.endOfSpeech) r.userText = text;
        return;
      }
      case 'response_started':
        if (r?.followUp && !r.abort.signal.aborted) {
          // A tool call's follow-up continues the same reply.
          r.followUp = false;
          r.responseId = ev.responseId;
          r.serverDone = false;
        } else this.startReply(ev.responseId);
        return;
      case 'audio': {
        if (!r || r.abort.signal.aborted || r.overflowed || r.responseId !== ev.responseId) return;
        let seg = r.segments.at(-1);
        if (!seg || seg.itemId !== ev.itemId) r.segments.push((seg = { itemId: ev.itemId, text: '', audioMs: 0 }));
        const ms = (ev.frame.samples.length * 1000) / ev.frame.sampleRate;
        seg.audioMs += ms;
        r.audioMs += ms;
        if (r.ts && r.ts.llmFirstToken === undefined) r.ts.llmFirstToken = r.ts.firstTextToTts = r.ts.ttsFirstAudio = this.now();
        if (r.aheadMs + ms > MAX_AUDIO_AHEAD_MS || !r.audio.offer({ frame: ev.frame, segment: seg })) return this.overflow(r, seg, ms);
        r.aheadMs += ms;
        return;
      }
      case 'text': {
        // After an overflow the words go with the audio that was dropped.
        if (!r || r.abort.signal.aborted || r.overflowed || r.responseId !== ev.responseId) return;
        let seg = r.segments.find((s) => s.itemId === ev.itemId);
        if (!seg) r.segments.push((seg = { itemId: ev.itemId, text: '', audioMs: 0 }));
        seg.text += ev.delta;
        r.text += ev.delta;
        if (r.chunks && r.chunker) {
          r.textItemId = ev.itemId;
          if (r.ts) r.ts.llmFirstToken ??= this.now();
          for (const c of r.chunker.push(ev.delta)) this.pushChunk(r, c);
        }
        return;
      }
      case 'tool_call':
        if (!r || r.abort.signal.aborted || r.responseId !== ev.responseId) return;
        r.calls.push(ev.call);
        this.host.events.emit('tool_call', ev.call);
        return;
      case 'response_done': {
        if (ev.usage) {
          this.host.usage.llmPromptTokens += ev.usage.inputTokens;
          this.host.usage.llmCompletionTokens += ev.usage.outputTokens;
          this.host.events.emit('usage', { ...this.host.usage });
        }
        if (ev.error) this.host.fail(ev.error);
        if (!r || r.responseId !== ev.responseId) return;
        r.serverDone = true;
        if (r.abort.signal.aborted) return;
        if (r.calls.length && ev.status === 'completed') {
          if (r.chunks && r.chunker) for (const c of r.chunker.flush()) this.pushChunk(r, c);
          return void this.runTools(r);
        }
        this.endOutput(r);
        return;
      }
      case 'error':
        this.host.fail(ev.error);
        return;
      case 'reconnected':
        // The response in flight went with the old socket: play what came, then end the reply.
        if (r && !r.serverDone) {
          r.serverDone = true;
          this.endOutput(r);
        }
        return;
      case 'truncated':
        return;
    }
  }

  private startReply(responseId: string): void {
    const output = this.output!;
    let done!: () => void;
    const s = this.stopped;
    // The first response after the user's turn carries that turn's latency.
    const ts: TurnTimestamps | undefined = s && !this.saying.length ? { endOfSpeech: s.endOfSpeech, sttFinal: s.at, llmRequest: s.at } : undefined;
    this.stopped = undefined;
    const r: RealtimeReply = {
      abort: new AbortController(), text: '', spoken: [], audioMs: 0, complete: false, startWrittenMs: output.writtenMs, done: new Promise((res) => (done = res)), speaking: false,
      responseId, aheadMs: 0, serverDone: false, segments: [], audio: new Channel(1 << 16), calls: [], steps: 1, ts, index: ts ? ++this.turnIndex : 0, userText: s?.text ?? '', startedAt: this.now(), finished: false, followUp: false,
    };
    // Stopped or closed: its audio is let go at once, not held until the reply's promise settles.
    r.abort.signal.addEventListener('abort', () => {
      r.audio.drain();
      r.audio.close();
    }, { once: true });
    if (this.text) {
      // As long as the reply's text (the model's output limit bounds it): no sentence is dropped.
      r.chunks = new Channel<string>(Infinity);
      r.chunker = new SentenceChunker(this.opts.chunker);
    }
    const previous = this.reply;
    this.reply = r;
    const say = ts ? undefined : this.saying.shift();
    // Replies play one after the other (a new one starts while the last is still playing when barge-in is off).
    void (previous?.done ?? Promise.resolve()).then(() => (r.chunks ? this.speakText(r, r.chunks) : this.play(r))).finally(() => {
      r.finished = true;
      if (this.reply === r) this.reply = undefined;
      done();
      say?.();
      this.host.checkBudget();
    });
  }

  /** Writes a reply's audio to the output, then records it. */
  private async play(r: RealtimeReply): Promise<void> {
    const output = this.output!;
    const events = this.host.events;
    let resampler: Resampler | undefined;
    let outputFailed: VoxlineError | undefined;
    try {
      const aborted = new Promise<void>((resolve) => r.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
      for await (const { frame, segment } of r.audio) {
        if (r.abort.signal.aborted) break;
        r.aheadMs -= (frame.samples.length * 1000) / frame.sampleRate;
        let out = frame;
        if (frame.sampleRate !== output.sampleRate) {
          if (resampler?.inRate !== frame.sampleRate) resampler = new Resampler(frame.sampleRate, output.sampleRate);
          out = { samples: resampler.process(frame.samples), sampleRate: output.sampleRate };
        }
        segment.startWrittenMs ??= output.writtenMs;
        if (!r.speaking) {
          r.speaking = true;
          r.startWrittenMs = output.writtenMs;
          if (r.ts) {
            r.ts.firstAudioOut = this.now();
            const latency = latencyOf(r.ts);
            if (latency) {
              const agent = this.agent.name;
              this.host.metrics.turns.push(agent !== undefined ? { ...latency, agent } : latency);
              events.emit('turn', { index: r.index, userText: r.userText, timestamps: { ...r.ts }, latency, ...(agent !== undefined ? { agent } : {}) });
            }
          }
          events.emit('agent_speech_started', { text: r.text });
        }
        if (out.samples.length) {
          try {
            // A write the output holds (a long frame, a slow device) does not hold a stopped reply.
            const written = output.write(out);
            written.catch(() => {});
            await Promise.race([written, aborted]);
            if (r.abort.signal.aborted) break;
          } catch (err) {
            // A write cut short by a barge-in or close is no failure of the output.
            if (r.abort.signal.aborted) throw err;
            throw (outputFailed = outputError(err));
          }
        }
      }
      if (!r.abort.signal.aborted) await waitOrAbort(output.drain(), r.abort.signal);
    } catch (err) {
      // The output is gone: only what it played was heard.
      if (outputFailed) this.cut(r, this.now(), false);
      else if (!isAbortError(err) && !r.abort.signal.aborted) this.host.fail(err);
    } finally {
      if (r.speaking) events.emit('agent_speech_ended', { text: r.text, interrupted: r.abort.signal.aborted });
      // A reply cut before any of it was heard leaves no trace.
      if (!this.signal.aborted && (r.speaking || !r.abort.signal.aborted)) this.host.record({ text: r.text.trim(), ...(r.cut ? { cut: r.cut } : {}) }, r.startedAt);
    }
    if (outputFailed) this.host.outputFailed(outputFailed);
  }

  /** Text output: the reply's sentences through the session's TTS (alignment, heard text, latency). */
  private async speakText(r: RealtimeReply, chunks: Channel<string>): Promise<void> {
    if (r.abort.signal.aborted) return;
    const agent = this.agent;
    const played = await this.host.replies.play(chunks, r.abort, r.ts ? { ts: r.ts, index: r.index, userText: r.userText, ...(agent.name !== undefined ? { agent: agent.name } : {}) } : undefined, undefined, agent.speech);
    if (!this.signal.aborted) this.host.record(played, r.startedAt);
  }

  private pushChunk(r: RealtimeReply, chunk: string): void {
    if (r.ts) r.ts.firstTextToTts ??= this.now();
    this.host.usage.ttsCharacters += chunk.length;
    r.chunks!.offer(chunk);
  }

  /** The model is done with the reply: no more audio or text will come. */
  private endOutput(r: RealtimeReply): void {
    if (r.chunks && r.chunker) {
      for (const c of r.chunker.flush()) this.pushChunk(r, c);
      r.chunks.close();
    }
    r.audio.close();
  }

  /**
   * Runs the reply's tool calls with the session's hooks, gives the model their results and asks
   * it to go on. A step that fails outside the tools themselves (a hook that throws, a result that
   * cannot be serialised, malformed calls) ends the reply with a `ToolError` on the `error` event;
   * the model is told each unanswered call failed, and the call goes on.
   */
  private async runTools(r: RealtimeReply): Promise<void> {
    const calls = r.calls.splice(0);
    const answered = new Set<ToolCall>();
    const agent = this.agent;
    let outcomes: Awaited<ReturnType<typeof callTool>>[] = [];
    try {
      this.host.pushHistory({ role: 'assistant', content: r.text || null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) });
      outcomes = await Promise.all(calls.map((call) => callTool(agent.tools ?? [], call, agent.toolHooks ?? {}, r.abort.signal)));
      const contents = outcomes.map((o) => outcomeContent(o));
      for (const [i, call] of calls.entries()) {
        answered.add(call);
        this.host.pushHistory({ role: 'tool', tool_call_id: call.id, content: contents[i]! });
        this.conn?.sendToolResult(call.id, contents[i]!);
        this.host.events.emit('tool_result', { call, outcome: outcomes[i]! });
      }
    } catch (err) {
      const name = String(calls.find((c) => !answered.has(c))?.name ?? calls[0]?.name ?? 'tool');
      const error = err instanceof VoxlineError ? err : new ToolError(name, `The tool step of '${name}' failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      for (const call of calls) {
        if (answered.has(call)) continue;
        const content = JSON.stringify({ error: `The tool '${String(call.name)}' failed.` });
        this.host.pushHistory({ role: 'tool', tool_call_id: call.id, content });
        this.conn?.sendToolResult(call.id, content);
      }
      // A step cut short by a barge-in or close is no failure.
      if (!(r.abort.signal.aborted && isAbortError(err))) this.host.fail(error);
      r.followUp = false;
      this.endOutput(r);
      return;
    }
    // A tool handed the call over: the new agent's instructions and tools answer the same turn.
    const next = outcomes.map((o) => (o.ok && o.result instanceof Handoff ? o.result : undefined)).filter(Boolean).at(-1);
    if (next && !this.signal.aborted) await this.host.handedOff?.(next);
    if (r.abort.signal.aborted || this.signal.aborted) return;
    r.steps++;
    r.followUp = true;
    this.conn?.respond({ tools: r.steps < (this.agent.maxToolSteps ?? 5) });
  }

  /** The agent speaking now. */
  private get agent(): AgentConfig {
    return this.host.agent?.() ?? (this.opts as unknown as AgentConfig);
  }

  /**
   * Another agent has the call: the model gets its instructions and tools (and its voice, where the
   * provider still allows a change; otherwise the `error` event says the voice stays).
   */
  agentChanged(): void {
    const conn = this.conn;
    if (!conn) return;
    const a = this.agent;
    if (!conn.update) return void this.host.fail(new ConfigError(`${this.model.provider} realtime connections cannot change instructions mid-call: ${a.name ?? 'the agent'} keeps the previous agent's`));
    const wantsVoice = a.voice !== undefined && !this.text;
    const { voice } = conn.update({ instructions: a.instructions ?? '', tools: a.tools ?? [], ...(wantsVoice ? { voice: a.voice } : {}) });
    if (wantsVoice && !voice) this.host.fail(new ConfigError(`${this.model.provider} cannot change the voice once the model has spoken: ${a.name ?? 'the agent'} speaks in the call's first voice`));
  }

  /** The model sent more audio ahead of playback than allowed: keep what came, stop the rest. */
  private overflow(r: RealtimeReply, seg: Segment, ms: number): void {
    seg.audioMs -= ms;
    r.audioMs -= ms;
    r.overflowed = true;
    if (!r.serverDone) this.conn?.cancel(r.responseId);
    // The model's copy ends where the audio kept for the user does.
    this.conn?.truncate(seg.itemId, seg.audioMs);
    this.host.fail(new ProviderError(`${this.model.provider} realtime sent more than ${MAX_AUDIO_AHEAD_MS / 1000} s of audio ahead of playback: the response was cancelled there`, { provider: this.model.provider }));
    this.endOutput(r);
  }

  /**
   * Text output: stop the TTS and the output, cancel the response, and replace the model's text
   * item by the words the user heard (text items cannot be truncated).
   */
  private cutText(r: RealtimeReply, chunks: Channel<string>, eventAt: number, report: boolean): void {
    const playing = this.host.replies.current?.abort === r.abort ? this.host.replies.cut() : undefined;
    r.abort.abort();
    chunks.drain();
    chunks.close();
    if (!r.serverDone) this.conn?.cancel(r.responseId);
    const heard = playing?.cut?.heard ?? '';
    if (r.textItemId) this.conn?.replaceText(r.textItemId, heard);
    if (!report || !playing?.speaking) return;
    const latencyMs = this.now() - eventAt;
    this.host.metrics.bargeIn.push(latencyMs);
    this.host.events.emit('interrupted', { heardText: heard, fullText: playing.text, latencyMs, playedMs: playing.cut?.playedMs ?? 0 });
  }

  /** What the user heard of a reply: per audio item, the share of its transcript that was played. */
  private heard(r: RealtimeReply): string {
    const played = this.output?.playedMs ?? 0;
    let text = '';
    for (const s of r.segments) {
      if (s.startWrittenMs === undefined || !s.audioMs) continue;
      const share = Math.min(1, Math.max(0, played - s.startWrittenMs) / s.audioMs);
      text += `${wholeWords(s.text, Math.round(s.text.length * share))} `;
    }
    return text.trim();
  }

  /** The user barged in: stop the audio, cancel the response, truncate the model's copy at what was heard. */
  private interrupt(eventAt: number): void {
    const r = this.reply;
    if (!r || r.abort.signal.aborted) return;
    this.cut(r, eventAt, true);
  }

  private cut(r: RealtimeReply, eventAt: number, report: boolean): void {
    if (r.chunks) return this.cutText(r, r.chunks, eventAt, report);
    const heard = this.heard(r);
    const played = this.output?.playedMs ?? 0;
    r.cut = { playedMs: r.speaking ? Math.max(0, played - r.startWrittenMs) : 0, heard };
    r.abort.abort();
    r.audio.drain();
    r.audio.close();
    this.output?.clear();
    if (!r.serverDone) this.conn?.cancel(r.responseId);
    for (const s of r.segments) {
      const heardMs = s.startWrittenMs === undefined ? 0 : Math.max(0, played - s.startWrittenMs);
      if (s.audioMs && heardMs < s.audioMs) this.conn?.truncate(s.itemId, heardMs);
    }
    // A reply cut before any of it played was not heard being interrupted.
    if (!report || !r.speaking) return;
    const latencyMs = this.now() - eventAt;
    this.host.metrics.bargeIn.push(latencyMs);
    this.host.events.emit('interrupted', { heardText: heard, fullText: r.text.trim(), latencyMs, playedMs: r.cut.playedMs });
  }
}

