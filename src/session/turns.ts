import type { AudioInput } from '../adapters/types';
import type { AudioFrame } from '../audio/frame';
import type { VadEvent } from '../audio/vad';
import { asyncIteratorOf } from '../streams/channel';
import { type Clock, type ClockTimer, holdOn, realClock } from '../streams/clock';
import type { SttEvent } from '../stt/types';
import type { TurnEndPolicy, VoiceSessionOptions } from './types';

/** What the turn-taker tells the session it serves. */
export interface TurnHost {
  /** The user started speaking. */
  speechStarted(source: 'stt' | 'vad'): void;
  /** A transcript (interim or final) arrived. */
  transcript(text: string, final: boolean): void;
  /** The user is barging in: stop the agent (`local`: the VAD, not the STT, heard it). */
  bargeIn(eventAt: number, local: boolean): void;
  /** Words followed a speech start (a local barge-in was the user, not noise). */
  words(): void;
  /** The user's turn ended. */
  userTurn(turn: { text: string; endOfSpeech: number; sttFinal: number }): void;
  /** The user's turn has probably ended with `text`: a reply may be prepared (not played). */
  speculate?(text: string): void;
  /** The user went on: drop the reply prepared on a likely end of turn. */
  unspeculate?(): void;
  /**
   * The local VAD heard the user's speech end: the STT may be asked for its final now
   * (`transcription.finalize()`, Deepgram's `Finalize`) instead of waiting for its endpointing.
   */
  speechEnded?(): void;
  /** Seconds of input audio passed on to the STT. */
  audio(seconds: number): void;
  /** True while the agent is replying (for backchannels). */
  replying(): boolean;
  fail(err: unknown): void;
}

/**
 * Turn-taking: endpointing (STT end of turn, silence timers, local VAD), the input's arrival times
 * (to date the end of speech), the barge-in decision, and the likely ends of turn a preemptive
 * reply starts on (the STT's eager end of turn; the transcript so far while the local VAD hears
 * silence).
 */
export class TurnTaker {
  private pending: string[] = [];
  private pendingEnd?: number;
  private silenceTimer?: ClockTimer;
  private vadTurnTimer?: ClockTimer;
  private arrivals: { end: number; at: number }[] = [];
  private audioSec = 0;
  private vadQueue: Promise<void> = Promise.resolve();
  /** The latest interim transcript since the last final. */
  private interim = '';
  /** The interim came twice in a row with the same text: the STT has settled on it. */
  private interimStable = false;
  /** The local VAD heard the user stop (and not start again since). */
  private vadSilent = false;

  constructor(
    private readonly opts: Pick<VoiceSessionOptions, 'turnEnd' | 'bargeIn' | 'vad' | 'vadTurnEndMs' | 'clock'>,
    private readonly host: TurnHost,
    private readonly signal: AbortSignal,
  ) {}

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  /**
   * Passes the input through, noting when each bit of audio arrived (to time end of speech) and
   * handing each frame to the VAD. A plain iterator, not a generator: it adds no steps of its own
   * to each frame on the audio path.
   */
  tap(input: AudioInput): AsyncIterable<AudioFrame> {
    return {
      [Symbol.asyncIterator]: () => {
        const it = asyncIteratorOf(input);
        return {
          next: () =>
            it.next().then((r) => {
              if (!r.done) this.arrived(r.value);
              return r;
            }),
          return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })),
        };
      },
    };
  }

  /** One frame of input has arrived. */
  private arrived(frame: AudioFrame): void {
    const dur = frame.samples.length / frame.sampleRate;
    this.audioSec += dur;
    this.host.audio(dur);
    this.arrivals.push({ end: this.audioSec, at: this.clock.now() });
    if (this.arrivals.length > 6000) this.arrivals.splice(0, 3000);
    if (this.opts.vad) {
      const vad = this.opts.vad;
      // Off the audio path: frames go to the STT without waiting for the VAD.
      this.vadQueue = this.vadQueue.then(async () => this.onVad(await holdOn(this.clock, Promise.resolve(vad.process(frame))))).catch((err) => this.host.fail(err));
    }
  }

  /** Stops the timers. */
  dispose(): void {
    this.clock.clearTimeout(this.silenceTimer);
    this.clock.clearTimeout(this.vadTurnTimer);
  }

  /** Wall time at which audio position `sec` was captured. */
  wallTimeOf(sec: number): number {
    const a = this.arrivals;
    let lo = 0;
    let hi = a.length - 1;
    if (hi < 0) return this.clock.now();
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
      if (this.signal.aborted) return;
      if (ev.type === 'speech_start') {
        this.clock.clearTimeout(this.vadTurnTimer);
        this.vadSilent = false;
        this.host.unspeculate?.();
        this.host.speechStarted('vad');
        if (this.opts.bargeIn !== false) this.host.bargeIn(this.clock.now(), true);
      } else {
        this.clock.clearTimeout(this.vadTurnTimer);
        this.vadTurnTimer = this.clock.setTimeout(() => this.flush(), this.opts.vadTurnEndMs ?? 700);
        this.vadSilent = true;
        this.host.speechEnded?.();
        this.preempt();
      }
    }
  }

  /** Handles one STT event. */
  onStt(ev: SttEvent): void {
    const bargeIn = this.opts.bargeIn === false ? undefined : { minWords: this.opts.bargeIn?.minWords ?? 2 };
    if ((ev.type === 'interim' || ev.type === 'final') && ev.text.trim()) this.host.words();
    switch (ev.type) {
      case 'speech_started':
        this.clock.clearTimeout(this.silenceTimer);
        this.host.unspeculate?.();
        this.host.speechStarted('stt');
        // A provider's own turn start (Flux StartOfTurn) is a barge-in signal that needs no words.
        if (bargeIn && (bargeIn.minWords === 0 || ev.turnStart)) this.host.bargeIn(this.clock.now(), false);
        return;
      case 'interim':
        this.host.transcript(ev.text, false);
        this.interimStable = ev.text.trim() === this.interim;
        this.interim = ev.text.trim();
        if (bargeIn && countWords(ev.text) >= Math.max(1, bargeIn.minWords)) this.host.bargeIn(this.clock.now(), false);
        if (this.vadSilent) this.preempt();
        return;
      case 'eager_end_of_turn':
        this.host.speculate?.([...this.pending, ev.text.trim()].filter(Boolean).join(' '));
        return;
      case 'turn_resumed':
        this.host.unspeculate?.();
        return;
      case 'final': {
        if (!ev.text.trim()) {
          if (ev.endOfTurn && this.policy() === 'speech_final') this.flush();
          return;
        }
        this.host.transcript(ev.text, true);
        const words = countWords(ev.text);
        if (this.host.replying()) {
          if (bargeIn && words >= Math.max(1, bargeIn.minWords)) this.host.bargeIn(this.clock.now(), false);
          else if (bargeIn && !this.pending.length) return; // a backchannel ("uh-huh") while the agent talks
        }
        this.pending.push(ev.text.trim());
        this.pendingEnd = ev.words.length ? ev.words[ev.words.length - 1]!.end : ev.end;
        this.interim = '';
        const policy = this.policy();
        if (policy === 'speech_final' && ev.endOfTurn) return this.flush();
        if (typeof policy === 'object') {
          this.clock.clearTimeout(this.silenceTimer);
          this.silenceTimer = this.clock.setTimeout(() => this.flush(), policy.silenceMs);
        }
        if (this.vadSilent) this.preempt();
        return;
      }
      case 'utterance_end':
        if (this.policy() === 'utterance_end' || this.pending.length) this.flush();
        return;
    }
  }

  /**
   * The transcript so far while the local VAD hears silence: a likely end of turn, once it is
   * stable (the finals, and an interim only once the STT sent it twice alike).
   */
  private preempt(): void {
    if (this.interim && !this.interimStable) return;
    const text = [...this.pending, this.interim].filter(Boolean).join(' ');
    if (text) this.host.speculate?.(text);
  }

  private policy(): TurnEndPolicy {
    return this.opts.turnEnd ?? 'speech_final';
  }

  /** Ends the user's turn now if they said anything. */
  flush(): void {
    this.clock.clearTimeout(this.silenceTimer);
    this.clock.clearTimeout(this.vadTurnTimer);
    if (!this.pending.length || this.signal.aborted) return;
    const text = this.pending.join(' ');
    const sttFinal = this.clock.now();
    const endOfSpeech = Math.min(sttFinal, this.wallTimeOf(this.pendingEnd ?? this.audioSec));
    this.pending = [];
    this.pendingEnd = undefined;
    this.interim = '';
    this.host.userTurn({ text, endOfSpeech, sttFinal });
  }
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
