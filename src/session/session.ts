import { EventEmitter } from 'eventemitter3';
import type { AudioOutput, AudioInput } from '../adapters/types';
import type { AudioFrame } from '../audio/frame';
import type { Vad, VadEvent } from '../audio/vad';
import { Resampler } from '../audio/resample';
import { ConfigError, VoxlineError, isAbortError, ProviderError } from '../errors';
import { type ToolHooks, runToolLoop } from '../llm/loop';
import type { Tool, ToolOutcome } from '../llm/tools';
import type { ChatMessage, LlmStream, LlmUsage, ToolCall } from '../llm/types';
import { Channel } from '../streams/channel';
import type { SttEvent, SttStream, SttWord, Transcription } from '../stt/types';
import { type ChunkerOptions, SentenceChunker } from '../tts/chunker';
import type { TtsFrame, TtsStream } from '../tts/types';
import { type PriceTable, SessionMetrics, type TurnLatency, type TurnTimestamps, type Usage, costOf, latencyOf } from './metrics';

/** When a user turn ends. */
export type TurnEndPolicy = 'speech_final' | 'utterance_end' | { silenceMs: number };

/** Barge-in settings. */
export interface BargeInOptions {
  /** Words the user must say before the agent stops (default 2; 0 stops on speech start). */
  minWords?: number;
  /**
   * With a local `vad`, the agent stops on the user's speech at once; if no words follow within
   * this long, it was noise and the agent says the rest of what it was saying (default 1200 ms).
   */
  resumeAfterMs?: number;
}

/** Options of {@link VoiceSession}. */
export interface VoiceSessionOptions {
  stt: SttStream;
  llm: LlmStream;
  tts: TtsStream;
  /** System prompt (in addition to the LLM's own `instructions`). */
  instructions?: string;
  /** Spoken first, before the user says anything. */
  greeting?: string;
  /** Tools the model may call. */
  tools?: readonly Tool<any, unknown>[];
  /** Hooks before (veto or replace) and after each tool call. */
  toolHooks?: ToolHooks;
  /** LLM requests per turn, tool calls included (default 5). */
  maxToolSteps?: number;
  /** Spoken when a tool is still running after `afterMs` (default 700 ms). */
  toolFiller?: string | { text: string; afterMs?: number };
  /** Phrases that end the call when the user says them. */
  hangUpPhrases?: readonly string[];
  /** Said before hanging up. */
  goodbye?: string;
  /** When a user turn ends (default `speech_final`). */
  turnEnd?: TurnEndPolicy;
  /** Barge-in settings, or false to let the agent finish speaking. */
  bargeIn?: false | BargeInOptions;
  /** Messages kept in history (oldest dropped first; default unlimited). */
  historyLimit?: number;
  /** What to do when a provider fails mid-turn: say `apology` and go on, or close (default `apologize`). */
  onProviderError?: 'apologize' | 'close';
  /** Said after a provider failure (default "Sorry, I ran into a problem. Could you say that again?"). */
  apology?: string;
  /** Prices to estimate cost from usage. */
  prices?: PriceTable;
  /** End the session politely once the estimated cost reaches this. */
  budget?: number;
  /** Sentence chunker settings. */
  chunker?: ChunkerOptions;
  /**
   * A local voice-activity detector run on the input frames (e.g. `await sileroVad()`): barge-in
   * triggers on local speech start, without waiting for the STT provider, and a user turn also
   * ends on local silence when the STT is slow to send its end of turn.
   */
  vad?: Vad;
  /** With `vad`: end the user's turn this long after local speech end if the STT has not (default 700 ms). */
  vadTurnEndMs?: number;
}

/** A completed turn with its latency breakdown. */
export interface TurnEvent {
  index: number;
  userText: string;
  timestamps: TurnTimestamps;
  latency: TurnLatency;
}

/** One entry of the conversation record. */
export interface TranscriptEntry {
  role: 'user' | 'agent';
  text: string;
  /** Milliseconds since the session started. */
  at: number;
  /** The agent was cut off; `text` is what the user heard. */
  interrupted?: boolean;
}

/** Events of a {@link VoiceSession}. */
export interface VoiceSessionEvents {
  /** The user started speaking (`source`: the STT provider or the local VAD). */
  user_speech_started: [{ source: 'stt' | 'vad' }];
  transcript: [{ text: string; final: boolean }];
  user_turn: [{ text: string }];
  turn: [TurnEvent];
  agent_speech_started: [{ text: string }];
  agent_speech_ended: [{ text: string; interrupted: boolean }];
  interrupted: [{ heardText: string; fullText: string; latencyMs: number }];
  tool_call: [ToolCall];
  tool_result: [{ call: ToolCall; outcome: ToolOutcome }];
  usage: [Usage];
  error: [VoxlineError];
  closed: [{ reason: string }];
}

interface ActiveReply {
  abort: AbortController;
  text: string;
  spoken: { atMs: number; chars: string }[];
  startWrittenMs: number;
  done: Promise<void>;
  speaking: boolean;
}

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
  /** Both sides, with times and interruptions. */
  readonly transcript: TranscriptEntry[] = [];
  /** What the session consumed. */
  readonly usage: Usage = { sttSeconds: 0, llmPromptTokens: 0, llmCompletionTokens: 0, ttsCharacters: 0 };

  private readonly opts: VoiceSessionOptions;
  private readonly stop = new AbortController();
  private output?: AudioOutput;
  private transcription?: Transcription;
  private reply?: ActiveReply;
  private queue: Promise<void> = Promise.resolve();
  private pending: string[] = [];
  private pendingEnd?: { end: number; words: SttWord[] };
  private silenceTimer?: NodeJS.Timeout;
  private arrivals: { end: number; at: number }[] = [];
  private audioSec = 0;
  private startedAt = 0;
  private turnIndex = 0;
  private closing?: Promise<void>;
  private closeReason = 'closed';
  private running = false;
  private vadQueue: Promise<void> = Promise.resolve();
  private vadTurnTimer?: NodeJS.Timeout;
  private resume?: { text: string; timer: NodeJS.Timeout };

  constructor(options: VoiceSessionOptions) {
    super();
    if (!options?.stt || !options.llm || !options.tts) throw new ConfigError('VoiceSession needs stt, llm and tts');
    if (options.historyLimit !== undefined && !(options.historyLimit >= 2)) throw new ConfigError('historyLimit must be at least 2');
    if (options.budget !== undefined && !options.prices) throw new ConfigError('budget needs prices');
    const te = options.turnEnd;
    if (te !== undefined && te !== 'speech_final' && te !== 'utterance_end' && !(typeof te === 'object' && te.silenceMs > 0)) throw new ConfigError(`turnEnd must be 'speech_final', 'utterance_end' or { silenceMs }`);
    this.opts = options;
  }

  /** True while the agent's audio is playing. */
  get agentSpeaking(): boolean {
    return this.reply?.speaking ?? false;
  }

  /**
   * Runs the conversation until the input ends, the user hangs up, `close()` is called or
   * `signal` aborts. Resolves once everything is closed.
   */
  async run({ input, output, signal }: { input: AudioInput; output: AudioOutput; signal?: AbortSignal }): Promise<void> {
    if (this.running) throw new ConfigError('VoiceSession.run() was already called');
    this.running = true;
    this.output = output;
    this.startedAt = performance.now();
    const onAbort = () => void this.close({ reason: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });
    void this.opts.tts.warmup?.().catch(() => {});
    if (this.opts.greeting) this.enqueue(() => this.speak(this.opts.greeting!, { record: true }));
    this.transcription = this.opts.stt.transcribe(this.tap(input), { signal: this.stop.signal });
    try {
      for await (const ev of this.transcription) this.onStt(ev);
      // The input ended: let the agent finish what it is saying.
      this.flushPendingTurn();
      await this.queue;
      await this.close({ reason: 'input ended', drain: true });
    } catch (err) {
      if (!this.stop.signal.aborted) {
        this.fail(err);
        await this.close({ reason: 'stt failed' });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.closing;
    }
  }

  /** Speaks `text` now (after anything already queued). */
  say(text: string): Promise<void> {
    return this.enqueue(() => this.speak(text, { record: true }));
  }

  /**
   * Ends the session: stops listening, cuts or drains the agent's audio, closes the providers'
   * connections with their proper close messages, and emits `closed`.
   */
  close(options: { reason?: string; drain?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.closeReason = options.reason ?? 'closed';
      clearTimeout(this.silenceTimer);
      clearTimeout(this.vadTurnTimer);
      clearTimeout(this.resume?.timer);
      if (options.drain) await this.reply?.done.catch(() => {});
      else this.reply?.abort.abort();
      this.stop.abort();
      if (options.drain) await this.output?.drain().catch(() => {});
      await this.reply?.done.catch(() => {});
      await this.output?.close().catch(() => {});
      await this.opts.tts.close?.().catch(() => {});
      this.emit('closed', { reason: this.closeReason });
    })();
    return this.closing;
  }

  private at(): number {
    return performance.now() - this.startedAt;
  }

  private fail(err: unknown): void {
    const e = err instanceof VoxlineError ? err : new ProviderError(String((err as Error)?.message ?? err), { cause: err });
    if (this.listenerCount('error')) this.emit('error', e);
  }

  /** Passes the input through, noting when each bit of audio arrived (to time end of speech). */
  private async *tap(input: AudioInput): AsyncGenerator<AudioFrame> {
    for await (const frame of input) {
      const dur = frame.samples.length / frame.sampleRate;
      this.audioSec += dur;
      this.usage.sttSeconds += dur;
      this.arrivals.push({ end: this.audioSec, at: performance.now() });
      if (this.arrivals.length > 6000) this.arrivals.splice(0, 3000);
      if (this.opts.vad) {
        const vad = this.opts.vad;
        // Off the audio path: frames go to the STT without waiting for the VAD.
        this.vadQueue = this.vadQueue.then(async () => this.onVad(await vad.process(frame))).catch((err) => this.fail(err));
      }
      yield frame;
    }
  }

  /** Wall time at which audio position `sec` was captured. */
  private wallTimeOf(sec: number): number {
    const a = this.arrivals;
    let lo = 0;
    let hi = a.length - 1;
    if (hi < 0) return performance.now();
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]!.end < sec) lo = mid + 1;
      else hi = mid;
    }
    const hit = a[lo]!;
    return hit.at - Math.max(0, (hit.end - sec) * 1000);
  }

  private onVad(events: VadEvent[]): void {
    for (const ev of events) {
      if (this.stop.signal.aborted) return;
      if (ev.type === 'speech_start') {
        clearTimeout(this.vadTurnTimer);
        this.emit('user_speech_started', { source: 'vad' });
        if (this.opts.bargeIn !== false) this.interrupt(performance.now(), true);
      } else {
        clearTimeout(this.vadTurnTimer);
        this.vadTurnTimer = setTimeout(() => this.flushPendingTurn(), this.opts.vadTurnEndMs ?? 700);
      }
    }
  }

  private onStt(ev: SttEvent): void {
    const bargeIn = this.opts.bargeIn === false ? undefined : { minWords: this.opts.bargeIn?.minWords ?? 2 };
    if ((ev.type === 'interim' || ev.type === 'final') && ev.text.trim() && this.resume) {
      // Words followed the local speech start: it was a real barge-in.
      clearTimeout(this.resume.timer);
      this.resume = undefined;
    }
    switch (ev.type) {
      case 'speech_started':
        clearTimeout(this.silenceTimer);
        this.emit('user_speech_started', { source: 'stt' });
        if (bargeIn && bargeIn.minWords === 0) this.interrupt(performance.now());
        return;
      case 'interim':
        this.emit('transcript', { text: ev.text, final: false });
        if (bargeIn && countWords(ev.text) >= Math.max(1, bargeIn.minWords)) this.interrupt(performance.now());
        return;
      case 'final': {
        if (!ev.text.trim()) {
          if (ev.endOfTurn && this.turnEndPolicy() === 'speech_final') this.flushPendingTurn();
          return;
        }
        this.emit('transcript', { text: ev.text, final: true });
        const words = countWords(ev.text);
        if (this.reply) {
          if (bargeIn && words >= Math.max(1, bargeIn.minWords)) this.interrupt(performance.now());
          else if (bargeIn && !this.pending.length) return; // a backchannel ("uh-huh") while the agent talks
        }
        this.pending.push(ev.text.trim());
        this.pendingEnd = { end: ev.words.length ? ev.words[ev.words.length - 1]!.end : ev.end, words: ev.words };
        const policy = this.turnEndPolicy();
        if (policy === 'speech_final' && ev.endOfTurn) this.flushPendingTurn();
        else if (typeof policy === 'object') {
          clearTimeout(this.silenceTimer);
          this.silenceTimer = setTimeout(() => this.flushPendingTurn(), policy.silenceMs);
        }
        return;
      }
      case 'utterance_end':
        if (this.turnEndPolicy() === 'utterance_end' || this.pending.length) this.flushPendingTurn();
        return;
    }
  }

  private turnEndPolicy(): TurnEndPolicy {
    return this.opts.turnEnd ?? 'speech_final';
  }

  private flushPendingTurn(): void {
    clearTimeout(this.silenceTimer);
    clearTimeout(this.vadTurnTimer);
    if (!this.pending.length || this.stop.signal.aborted) return;
    const text = this.pending.join(' ');
    const sttFinal = performance.now();
    const endOfSpeech = Math.min(sttFinal, this.wallTimeOf(this.pendingEnd?.end ?? this.audioSec));
    this.pending = [];
    this.pendingEnd = undefined;
    this.emit('user_turn', { text });
    this.transcript.push({ role: 'user', text, at: endOfSpeech - this.startedAt });
    const phrase = this.opts.hangUpPhrases?.find((p) => new RegExp(`\\b${escapeRegExp(p)}\\b`, 'i').test(text));
    if (phrase) {
      this.pushHistory({ role: 'user', content: text });
      void this.enqueue(async () => {
        if (this.opts.goodbye) await this.speak(this.opts.goodbye, { record: true });
        await this.close({ reason: 'hang-up', drain: true });
      });
      return;
    }
    const ts: TurnTimestamps = { endOfSpeech, sttFinal, llmRequest: 0 };
    void this.enqueue(() => this.respond(text, ts));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(() => (this.stop.signal.aborted ? undefined : task())).catch((err) => this.fail(err));
    this.queue = next;
    return next;
  }

  private pushHistory(...messages: ChatMessage[]): void {
    this.history.push(...messages);
    const limit = this.opts.historyLimit;
    if (limit && this.history.length > limit) {
      let drop = this.history.length - limit;
      // Never leave a tool result without the call that asked for it.
      while (drop < this.history.length && this.history[drop]!.role === 'tool') drop++;
      this.history.splice(0, drop);
    }
  }

  private messages(): ChatMessage[] {
    return this.opts.instructions ? [{ role: 'system', content: this.opts.instructions }, ...this.history] : [...this.history];
  }

  /**
   * Interrupts the agent: abort the LLM, stop TTS, drop queued audio, keep what was heard. When the
   * local VAD caused it, the rest of the reply is kept to be said if no words follow.
   */
  private interrupt(eventAt: number, local = false): void {
    const reply = this.reply;
    if (!reply || reply.abort.signal.aborted) return;
    reply.abort.abort();
    this.output?.clear();
    const latencyMs = performance.now() - eventAt;
    this.metrics.bargeIn.push(latencyMs);
    const heard = this.heard(reply);
    this.emit('interrupted', { heardText: heard, fullText: reply.text, latencyMs });
    if (local && this.opts.bargeIn !== false) {
      clearTimeout(this.resume?.timer);
      // Resume at the start of the sentence that was cut off.
      const cut = reply.text.indexOf(heard) >= 0 ? heard.length : 0;
      const sentenceStart = Math.max(0, ...['. ', '! ', '? '].map((p) => reply.text.lastIndexOf(p, cut) + 2).filter((i) => i > 1 && i <= cut));
      const rest = reply.text.slice(sentenceStart).trim();
      const resume = {
        text: rest,
        timer: setTimeout(() => {
          if (this.resume !== resume || this.stop.signal.aborted) return;
          this.resume = undefined;
          // No words followed: noise, not the user. Say the rest.
          if (resume.text) void this.enqueue(() => this.speak(resume.text, { record: true }));
        }, this.opts.bargeIn?.resumeAfterMs ?? 1200),
      };
      this.resume = resume;
    }
  }

  /** The part of a reply the user actually heard: audio played, mapped to text by the alignment. */
  private heard(reply: ActiveReply): string {
    const heardMs = Math.max(0, (this.output?.playedMs ?? 0) - reply.startWrittenMs);
    let text = '';
    for (const s of reply.spoken) if (s.atMs <= heardMs) text += s.chars;
    return text.trim();
  }

  /** One agent turn: LLM (with tools) → sentence chunks → TTS → output. */
  private async respond(userText: string, ts: TurnTimestamps): Promise<void> {
    this.pushHistory({ role: 'user', content: userText });
    const work = this.messages();
    const base = work.length;
    const index = ++this.turnIndex;
    const chunks = new Channel<string>(64);
    const chunker = new SentenceChunker(this.opts.chunker);
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    let llmError: unknown;
    const filler = typeof this.opts.toolFiller === 'string' ? { text: this.opts.toolFiller, afterMs: 700 } : this.opts.toolFiller;
    const pushChunk = (c: string) => {
      ts.firstTextToTts ??= performance.now();
      this.usage.ttsCharacters += c.length;
      chunks.offer(c);
    };
    ts.llmRequest = performance.now();
    const producer = (async () => {
      let fillerTimer: NodeJS.Timeout | undefined;
      try {
        const loop = runToolLoop(this.opts.llm, work, {
          tools: this.opts.tools,
          maxSteps: this.opts.maxToolSteps,
          signal: abort.signal,
          beforeToolCall: this.opts.toolHooks?.beforeToolCall,
          afterToolCall: this.opts.toolHooks?.afterToolCall,
        });
        for await (const ev of loop) {
          if (ev.type === 'text') {
            ts.llmFirstToken ??= performance.now();
            for (const c of chunker.push(ev.delta)) pushChunk(c);
          } else if (ev.type === 'tool_call') this.emit('tool_call', ev.call);
          else if (ev.type === 'tools_started') {
            for (const c of chunker.flush()) pushChunk(c);
            if (filler) fillerTimer = setTimeout(() => pushChunk(filler.text), filler.afterMs ?? 700);
          } else if (ev.type === 'tool_result') {
            clearTimeout(fillerTimer);
            this.emit('tool_result', { call: ev.call, outcome: ev.outcome });
          } else if (ev.type === 'usage') this.addUsage(ev.usage);
        }
        for (const c of chunker.flush()) pushChunk(c);
      } catch (err) {
        if (!isAbortError(err)) llmError = err;
      } finally {
        clearTimeout(fillerTimer);
        chunks.close();
      }
    })();
    // Tool calls and results the loop added become part of the history.
    const spokenText = await this.play(chunks, abort, ts, index, userText);
    await producer;
    this.stop.signal.removeEventListener('abort', onStop);
    this.pushHistory(...work.slice(base));
    const interrupted = abort.signal.aborted && !this.stop.signal.aborted;
    if (spokenText.text || interrupted) {
      const content = interrupted ? (spokenText.heard ? `${spokenText.heard}…` : '') : spokenText.text;
      if (content) this.pushHistory({ role: 'assistant', content });
      this.transcript.push({ role: 'agent', text: interrupted ? spokenText.heard : spokenText.text, at: (ts.firstAudioOut ?? performance.now()) - this.startedAt, ...(interrupted ? { interrupted: true } : {}) });
    }
    if (llmError) {
      this.fail(llmError);
      if (this.opts.onProviderError === 'close') await this.close({ reason: 'provider error' });
      else await this.speak(this.opts.apology ?? 'Sorry, I ran into a problem. Could you say that again?', { record: true });
    }
    this.checkBudget();
  }

  /** Speaks fixed text (greeting, goodbye, apology). */
  private async speak(text: string, { record }: { record: boolean }): Promise<void> {
    const chunks = new Channel<string>(8);
    for (const c of new SentenceChunker({ firstChunkWords: 0 }).push(`${text} `)) chunks.offer(c);
    chunks.close();
    this.usage.ttsCharacters += text.length;
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    const startAt = performance.now();
    const r = await this.play(chunks, abort);
    this.stop.signal.removeEventListener('abort', onStop);
    const interrupted = abort.signal.aborted && !this.stop.signal.aborted;
    if (record && (r.text || interrupted)) {
      const said = interrupted ? r.heard : r.text;
      if (said) this.pushHistory({ role: 'assistant', content: interrupted ? `${said}…` : said });
      this.transcript.push({ role: 'agent', text: said, at: startAt - this.startedAt, ...(interrupted ? { interrupted: true } : {}) });
    }
  }

  /** Streams chunks through TTS to the output; returns the text spoken and the part heard. */
  private async play(chunks: AsyncIterable<string>, abort: AbortController, ts?: TurnTimestamps, index = 0, userText = ''): Promise<{ text: string; heard: string }> {
    const output = this.output!;
    let done!: () => void;
    const reply: ActiveReply = { abort, text: '', spoken: [], startWrittenMs: output.writtenMs, done: new Promise((r) => (done = r)), speaking: false };
    this.reply = reply;
    const sent = (async function* () {
      for await (const c of chunks) {
        reply.text += (reply.text ? ' ' : '') + c;
        yield c;
      }
    })();
    let resampler: Resampler | undefined;
    let audioMs = 0;
    try {
      for await (const frame of this.opts.tts.synthesize(sent, { signal: abort.signal }) as AsyncIterable<TtsFrame>) {
        if (abort.signal.aborted) break;
        if (ts && ts.ttsFirstAudio === undefined) ts.ttsFirstAudio = performance.now();
        if (frame.alignment) {
          const a = frame.alignment;
          for (let i = 0; i < a.chars.length; i++) reply.spoken.push({ atMs: audioMs + a.startMs[i]!, chars: a.chars[i]! });
        }
        let out: AudioFrame = frame;
        if (frame.sampleRate !== output.sampleRate) {
          resampler ??= new Resampler(frame.sampleRate, output.sampleRate);
          out = { samples: resampler.process(frame.samples), sampleRate: output.sampleRate };
        }
        audioMs += (frame.samples.length * 1000) / frame.sampleRate;
        if (!reply.speaking) {
          reply.speaking = true;
          reply.startWrittenMs = output.writtenMs;
          if (ts) {
            ts.firstAudioOut = performance.now();
            const latency = latencyOf(ts);
            if (latency) {
              this.metrics.turns.push(latency);
              this.emit('turn', { index, userText, timestamps: { ...ts }, latency });
            }
          }
          this.emit('agent_speech_started', { text: reply.text });
        }
        if (out.samples.length) await output.write(out);
        if (abort.signal.aborted) break;
      }
      if (!reply.spoken.length) {
        // No alignment from this provider: assume characters are spread evenly over the audio.
        const chars = [...reply.text];
        chars.forEach((c, i) => reply.spoken.push({ atMs: (i / Math.max(1, chars.length)) * audioMs, chars: c }));
      }
      if (!abort.signal.aborted) await waitOrAbort(output.drain(), abort.signal);
    } catch (err) {
      if (!isAbortError(err) && !abort.signal.aborted) this.fail(err);
    } finally {
      if (this.reply === reply) this.reply = undefined;
      if (reply.speaking) this.emit('agent_speech_ended', { text: reply.text, interrupted: abort.signal.aborted });
      done();
    }
    return { text: reply.text, heard: abort.signal.aborted ? this.heard(reply) : reply.text };
  }

  private addUsage(u: LlmUsage): void {
    this.usage.llmPromptTokens += u.promptTokens;
    this.usage.llmCompletionTokens += u.completionTokens;
    this.emit('usage', { ...this.usage });
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

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function waitOrAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, resolve).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
