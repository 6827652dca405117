import { EnergyVad } from '../audio/vad';

/** A recognised word with its times in seconds from the start of the stream. */
export interface EmulatedWord {
  /** The word, lower case, no punctuation. */
  word: string;
  /** The word as written, with punctuation. */
  punctuated_word: string;
  /** Start, in seconds of audio. */
  start: number;
  /** End, in seconds of audio. */
  end: number;
  /** Always 0.98: the emulator knows the script. */
  confidence: number;
}

/** What the STT engine reports as audio arrives. */
export type SttEngineEvent =
  | {
      /** Speech started in the audio. */
      type: 'speech_started';
      /** When, in seconds of audio. */
      timestamp: number;
    }
  | {
      /** A transcript (interim or final). */
      type: 'result';
      /** The words recognised. */
      text: string;
      /** Each word with its timing. */
      words: EmulatedWord[];
      /** Start of the audio it covers, in seconds. */
      start: number;
      /** Length of the audio it covers, in seconds. */
      duration: number;
      /** A final result. */
      isFinal: boolean;
      /** The end of the speaker's turn (Deepgram `speech_final`). */
      speechFinal: boolean;
      /** Sent in answer to a `Finalize` message. */
      fromFinalize: boolean;
    }
  | {
      /** A gap after the last word. */
      type: 'utterance_end';
      /** End of the last word, in seconds. */
      lastWordEnd: number;
    };

/** Where the recogniser gets the text of each utterance it hears. */
export interface SttScript {
  /** The text of the next utterance heard (called once per utterance). */
  next(): string;
}

/** A script that hands out `utterances` in order, across all connections, then repeats the last one. */
export function scriptOf(utterances: string[]): SttScript {
  let i = 0;
  return { next: () => utterances[Math.min(i++, utterances.length - 1)] ?? '' };
}

/** Options of the STT engine. */
export interface SttEngineOptions {
  /** Silence after speech before the final result, in ms of received audio (default 140). */
  finalDelayMs: number;
  /** Interim results while speech lasts (default true). */
  interimResults: boolean;
  /** Emit `speech_final` on endpoints (false when the client disabled endpointing). */
  endpointing: boolean;
  /** Silence after the last final before `utterance_end` (ms of audio), or undefined for none. */
  utteranceEndMs?: number | undefined;
  /** Report speech starts. */
  vadEvents: boolean;
  /** How long after the onset of speech it is reported, ms of audio (default 40: the detector's own). */
  speechStartedDelayMs?: number | undefined;
  /**
   * Runs `fire` after `ms` of wall time and sends what it returns; returns a cancel function.
   * With it, the final lands exactly `finalDelayMs` after the end of speech instead of at the end of
   * the audio frame that completes the silence (audio arriving in real time, as from a microphone).
   */
  schedule?: ((ms: number, fire: () => SttEngineEvent[]) => () => void) | undefined;
}

/**
 * The recogniser behind the STT emulators. It cannot recognise speech, so it finds speech with a
 * VAD in the audio it receives and reports the next scripted utterance's text: interim results
 * while the speech lasts (words revealed as time passes), a final after `finalDelayMs` of silence.
 * Everything is timed by the audio received, not the wall clock.
 */
export class SttEngine {
  private readonly vad: EnergyVad;
  private audioMs = 0;
  private speechStartMs = -1;
  private lastInterimMs = 0;
  private text: string | undefined;
  private lastWordEnd = -1;
  private silenceSinceFinalMs = -1;
  private endAt = -1;
  private cancelFinal?: () => void;

  /** Hears nothing until audio is pushed. */
  constructor(private readonly script: SttScript, private readonly opts: SttEngineOptions) {
    this.vad = new EnergyVad({ minSilenceMs: Math.min(opts.finalDelayMs, 60), minSpeechMs: Math.max(10, opts.speechStartedDelayMs ?? 40) });
  }

  /** Audio received so far, in ms. */
  get receivedMs(): number {
    return this.audioMs;
  }

  /** Feeds PCM16 samples; returns the events they complete. */
  push(samples: Int16Array, sampleRate: number): SttEngineEvent[] {
    const out: SttEngineEvent[] = [];
    const before = this.audioMs;
    this.audioMs += (samples.length * 1000) / sampleRate;
    for (const ev of this.vad.process({ samples, sampleRate })) {
      if (ev.type === 'speech_start') {
        if (this.endAt >= 0) {
          // Speech resumed before the endpoint: the same utterance goes on.
          this.endAt = -1;
          this.cancelFinal?.();
          continue;
        }
        this.speechStartMs = ev.timeMs;
        this.lastInterimMs = ev.timeMs;
        this.text = undefined;
        this.silenceSinceFinalMs = -1;
        if (this.opts.vadEvents) out.push({ type: 'speech_started', timestamp: ev.timeMs / 1000 });
      } else if (this.speechStartMs >= 0) {
        this.endAt = ev.timeMs;
        const remaining = this.opts.finalDelayMs - (this.audioMs - ev.timeMs);
        if (remaining > 0 && this.opts.schedule) this.cancelFinal = this.opts.schedule(remaining, () => this.endpoint());
      }
    }
    if (this.endAt >= 0 && this.audioMs - this.endAt >= this.opts.finalDelayMs) out.push(...this.endpoint());
    if (this.vad.speaking && this.endAt < 0 && this.speechStartMs >= 0 && this.opts.interimResults && this.audioMs - this.lastInterimMs >= 250) {
      this.lastInterimMs = this.audioMs;
      out.push(this.result(this.audioMs, false, false, false));
    }
    if (this.silenceSinceFinalMs >= 0 && this.opts.utteranceEndMs !== undefined && !this.vad.speaking) {
      this.silenceSinceFinalMs += this.audioMs - before;
      if (this.silenceSinceFinalMs >= this.opts.utteranceEndMs - this.opts.finalDelayMs) {
        this.silenceSinceFinalMs = -1;
        out.push({ type: 'utterance_end', lastWordEnd: this.lastWordEnd });
      }
    }
    return out;
  }

  private endpoint(): SttEngineEvent[] {
    if (this.endAt < 0 || this.speechStartMs < 0) return [];
    this.cancelFinal?.();
    this.cancelFinal = undefined;
    const end = this.endAt;
    this.endAt = -1;
    return [this.result(end, true, this.opts.endpointing, false)];
  }

  /** Finalize: the utterance in progress becomes final now (`from_finalize`). */
  finalize(): SttEngineEvent[] {
    // Nothing being said: Deepgram still answers, with an empty final up to the audio received.
    if (this.speechStartMs < 0) return [{ type: 'result', text: '', words: [], start: round3(this.audioMs / 1000), duration: 0, isFinal: true, speechFinal: false, fromFinalize: true }];
    this.cancelFinal?.();
    const ev = this.result(this.endAt >= 0 ? this.endAt : this.audioMs, true, false, true);
    this.endAt = -1;
    this.vad.reset();
    return [ev];
  }

  private result(endMs: number, isFinal: boolean, speechFinal: boolean, fromFinalize: boolean): SttEngineEvent {
    this.text ??= this.script.next();
    const all = this.text.split(/\s+/).filter(Boolean);
    const startMs = this.speechStartMs;
    const spanMs = Math.max(1, endMs - startMs);
    // Words are revealed at about 300 ms each while speech lasts; a final has them all.
    const count = isFinal ? all.length : Math.min(all.length - 1, Math.floor(spanMs / 300));
    const per = spanMs / Math.max(1, isFinal ? all.length : Math.max(count, 1));
    const words: EmulatedWord[] = all.slice(0, Math.max(0, count)).map((w, i) => ({
      word: w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
      punctuated_word: w,
      start: round3((startMs + i * per) / 1000),
      end: round3((startMs + (i + 1) * per) / 1000),
      confidence: 0.98,
    }));
    const text = words.map((w) => w.punctuated_word).join(' ');
    if (isFinal) {
      this.speechStartMs = -1;
      this.text = undefined;
      if (words.length) this.lastWordEnd = words[words.length - 1]!.end;
      this.silenceSinceFinalMs = 0;
    }
    return { type: 'result', text, words, start: round3(startMs / 1000), duration: round3(spanMs / 1000), isFinal, speechFinal, fromFinalize };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Reads PCM16 little-endian audio from binary WebSocket messages: returns a function that gives
 * the samples of each message, carrying an odd trailing byte over to the next one.
 */
export function pcm16Reader(): (data: Buffer) => Int16Array {
  let carry: Buffer | undefined;
  return (data) => {
    const buf = carry ? Buffer.concat([carry, data]) : data;
    carry = buf.length % 2 ? buf.subarray(buf.length - 1) : undefined;
    const aligned = Buffer.from(buf.subarray(0, buf.length - (buf.length % 2)));
    return new Int16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
  };
}
