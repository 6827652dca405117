import type { AudioFrame } from '../audio/frame';
import { resample } from '../audio/resample';
import type { VoiceSession } from '../session/session';
import { type Clock, realClock } from '../streams/clock';
import type { Synthesizer } from '../tts/speech';
import { ConfigError } from '../errors';
import { checkOptionNames } from '../provider';

/** The options of {@link ScriptedCaller}. */
const CALLER_OPTIONS: Readonly<Record<keyof ScriptedCallerOptions, true>> = {
  lines: true, synthesizer: true, sampleRate: true, frameMs: true, leadMs: true, cueTimeoutMs: true, clock: true, onSynthesis: true,
};

/** When a scripted caller says its next line. */
export type CallerCue =
  | {
      /** Once the agent has finished its answer to the previous line (default; a reply that line barged in on does not count), after `pauseMs`. */
      after: 'agent_done';
      /** Silence before the line, in milliseconds. */
      pauseMs?: number;
    }
  | {
      /** While the agent speaks: `delayMs` after it starts (a barge-in). */
      after: 'agent_speaking';
      /** How long after the agent starts speaking, in milliseconds. */
      delayMs?: number;
    }
  | {
      /** `pauseMs` after the previous line, whatever the agent does. */
      after: 'previous';
      /** Silence before the line, in milliseconds. */
      pauseMs?: number;
    };

/** One line of a scripted caller. */
export interface CallerLine {
  /** What the caller says. */
  text: string;
  /** When the caller says it (default: once the agent has answered the previous line). */
  cue?: CallerCue;
}

/** Options of {@link ScriptedCaller}. */
export interface ScriptedCallerOptions {
  /** What the caller says, in order (a string is cued after the agent's answer). */
  lines: (string | CallerLine)[];
  /** The caller's voice. */
  synthesizer: Synthesizer;
  /** Sample rate of the frames (default 16000). */
  sampleRate?: number | undefined;
  /** Frame duration (default 20 ms, as a microphone delivers). */
  frameMs?: number | undefined;
  /** Silence before the first line (default 300 ms). */
  leadMs?: number | undefined;
  /** Longest wait for a cue before going on anyway (default 20 000 ms). */
  cueTimeoutMs?: number | undefined;
  /** The clock the frames are paced by and cues are timed on (default: the wall clock). */
  clock?: Clock | undefined;
  /** Called with progress while lines are synthesised. */
  onSynthesis?: ((done: number, total: number) => void) | undefined;
}

/** A line as it was spoken: its audio and when it started and ended on the caller's clock. */
export interface SpokenLine {
  /** The line's text. */
  text: string;
  /** The audio spoken, at the caller's rate. */
  audio: Int16Array;
  /** When the caller started saying it, on the caller's clock (ms). */
  startedAt: number;
  /** When the caller finished saying it, on the caller's clock (ms). */
  endedAt: number;
}

/**
 * A caller that speaks scripted lines into a session in real time, like a microphone: 20 ms
 * frames on the clock, silence between lines, each line cued by what the agent does.
 */
export class ScriptedCaller {
  /** Lines spoken so far, with their timing. */
  readonly spoken: SpokenLine[] = [];
  /** The line being spoken now, if any (`endedAt` is 0 until it ends). */
  current?: SpokenLine;
  private audio: Int16Array[] = [];
  private readonly rate: number;
  private readonly lines: CallerLine[];

  /** Synthesises nothing yet: the lines are spoken by `prepare()` or when `input()` runs. */
  constructor(private readonly options: ScriptedCallerOptions) {
    checkOptionNames('ScriptedCaller', options ?? {}, CALLER_OPTIONS);
    if (!Array.isArray(options?.lines)) throw new ConfigError("ScriptedCaller needs lines: what the caller says, in order (['Hello', { text: 'Stop', cue: { after: 'agent_speaking' } }])");
    if (typeof options.synthesizer !== 'function') throw new ConfigError('ScriptedCaller needs a synthesizer, the voice it speaks with (toneSynthesizer(), or await defaultSynthesizer() for eSpeak NG)');
    this.rate = options.sampleRate ?? 16000;
    this.lines = options.lines.map((l) => (typeof l === 'string' ? { text: l } : l));
  }

  /** Synthesises every line ahead of time. */
  async prepare(): Promise<void> {
    this.audio = [];
    for (const [i, line] of this.lines.entries()) {
      const a = await this.options.synthesizer(line.text);
      this.audio.push(resample(a.samples, a.sampleRate, this.rate));
      this.options.onSynthesis?.(i + 1, this.lines.length);
    }
  }

  /** The microphone: real-time frames for `session`, ending after the last line and `tailMs`. */
  async *input(session: VoiceSession, tailMs = 1500): AsyncGenerator<AudioFrame> {
    if (this.audio.length !== this.lines.length) await this.prepare();
    const clock = this.options.clock ?? realClock;
    const per = Math.round((this.rate * (this.options.frameMs ?? 20)) / 1000);
    const frameMs = (per * 1000) / this.rate;
    let agentStartedAt = 0;
    let agentDone = 0;
    const onStart = () => (agentStartedAt = clock.now());
    // An interrupted reply is not the agent being done: it is about to answer the interruption.
    const onEnd = (e: { interrupted: boolean }) => {
      if (!e.interrupted) agentDone = clock.now();
    };
    session.on('agent_speech_started', onStart);
    session.on('agent_speech_ended', onEnd);
    const start = clock.now();
    let n = 0;
    const tick = async (): Promise<void> => {
      const due = start + n * frameMs;
      n++;
      const wait = due - clock.now();
      if (wait > 1) await clock.sleep(wait);
    };
    const silence = new Int16Array(per);
    try {
      for (let t = 0; t < (this.options.leadMs ?? 300); t += frameMs) { await tick(); yield { samples: silence, sampleRate: this.rate }; }
      let previousLineAt = start;
      for (const [i, line] of this.lines.entries()) {
        const cue = line.cue ?? { after: 'agent_done' };
        const cueStart = clock.now();
        // Cues count what the agent did since the previous line began (it may answer before the
        // line's trailing silence is over).
        let ready = cue.after === 'previous' || (i === 0 && cue.after === 'agent_done' && !session.agentSpeaking);
        let readyAt = ready ? cueStart : 0;
        while (clock.now() - cueStart < (this.options.cueTimeoutMs ?? 20_000)) {
          if (!ready) {
            // A reply started before the previous line (one that line barged in on) is not its answer.
            const answered = i === 0 || agentStartedAt > previousLineAt;
            if (cue.after === 'agent_done' && answered && agentDone > previousLineAt && agentDone >= agentStartedAt && !session.agentSpeaking) {
              ready = true;
              readyAt = agentDone;
            }
            if (cue.after === 'agent_speaking' && agentStartedAt > previousLineAt) {
              ready = true;
              readyAt = agentStartedAt;
            }
          }
          const delay = cue.after === 'agent_speaking' ? cue.delayMs ?? 800 : cue.pauseMs ?? (i === 0 ? 0 : 400);
          if (ready && clock.now() - readyAt >= delay) break;
          await tick();
          yield { samples: silence, sampleRate: this.rate };
        }
        const audio = this.audio[i]!;
        previousLineAt = clock.now();
        let startedAt = 0;
        for (let off = 0; off < audio.length; off += per) {
          const samples = new Int16Array(per);
          samples.set(audio.subarray(off, off + per));
          await tick();
          if (!startedAt) {
            startedAt = clock.now();
            this.current = { text: line.text, audio, startedAt: startedAt - frameMs, endedAt: 0 };
          }
          yield { samples, sampleRate: this.rate };
        }
        // The last frame's audio ends when it is delivered.
        this.current = undefined;
        this.spoken.push({ text: line.text, audio, startedAt: startedAt - frameMs, endedAt: clock.now() - (per - (audio.length % per || per)) * (1000 / this.rate) });
      }
      const until = clock.now() + tailMs;
      while (clock.now() < until || session.agentSpeaking) { await tick(); yield { samples: silence, sampleRate: this.rate }; }
    } finally {
      session.off('agent_speech_started', onStart);
      session.off('agent_speech_ended', onEnd);
    }
  }
}
