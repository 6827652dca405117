import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer, type AudioFrame, type Synthesizer, type TurnEvent, type Vad } from '../src/index';
import { VirtualSpeaker } from '../src/adapters/index';
import { ScriptedCaller, type CallerLine } from '../src/testing/index';

export interface Urls { listen: string; llm: string; tts: string }

/** Starts the emulators in a child process. */
export async function startEmulators(cfg: Record<string, unknown> = {}): Promise<{ urls: Urls; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/emulators.ts', JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return {
    urls: JSON.parse(line) as Urls,
    stop: () => new Promise((r) => { child.once('exit', () => r()); child.stdin!.end(); }),
  };
}

/** An output that notes when each frame was written. */
export class TimedSpeaker extends VirtualSpeaker {
  lastWrite = 0;
  override write(frame: AudioFrame): Promise<void> {
    this.lastWrite = performance.now();
    return super.write(frame);
  }
}

export interface TurnRecord {
  /** Caller's end of speech → first agent audio written, measured outside the session. */
  v2v: number;
  latency: TurnEvent['latency'];
}

export interface BargeRecord {
  toClear: number;
  toLastFrame: number;
  /** From the onset of the interrupting speech to `output.clear()`. */
  fromSpeech: number;
}

/** Options of {@link runSessions}. */
export interface RunOptions {
  /** The callers' voice (default: a tone). */
  synthesizer?: Synthesizer;
  /** A local VAD per session. */
  vad?: () => Promise<Vad>;
  /** Barge-in on the STT's speech-started event instead of words. */
  bargeOnSpeechStart?: boolean;
}

/** Runs `n` sessions at once, each a scripted caller speaking `lines` in real time. */
export async function runSessions(urls: Urls, n: number, lines: CallerLine[], opts: RunOptions = {}): Promise<{ turns: TurnRecord[]; barges: BargeRecord[]; audioSeconds: number; wallSeconds: number }> {
  const synth = opts.synthesizer ?? toneSynthesizer({ sampleRate: 16000, msPerChar: 45 });
  const turns: TurnRecord[] = [];
  const barges: BargeRecord[] = [];
  let audioSeconds = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, async (_, k) => {
    await new Promise((r) => setTimeout(r, (k * 20) % 1000)); // stagger starts over a second
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'bench', baseURL: urls.listen }),
      llm: new OpenAiLlm({ apiKey: 'bench', baseURL: urls.llm, model: 'bench', maxRetries: 0 }),
      tts: new ElevenLabsTts({ apiKey: 'bench', voiceId: 'bench', baseURL: urls.tts, outputFormat: 'pcm_16000' }),
      ...(opts.vad ? { vad: await opts.vad() } : {}),
      ...(opts.bargeOnSpeechStart ? { bargeIn: { minWords: 0 } } : {}),
    });
    const caller = new ScriptedCaller({ lines, synthesizer: synth, leadMs: 200 });
    const speaker = new TimedSpeaker({ sampleRate: 16000 });
    session.on('turn', (t) => {
      const said = caller.spoken[caller.spoken.length - 1];
      if (said) turns.push({ v2v: t.timestamps.firstAudioOut! - said.endedAt, latency: t.latency });
    });
    session.on('interrupted', (i) => {
      const at = performance.now() - i.latencyMs;
      const clearedAt = performance.now();
      const line = caller.current;
      setTimeout(() => {
        // The onset of speech in the interrupting line (its audio may start with silence).
        let onset = 0;
        while (line && onset < line.audio.length && Math.abs(line.audio[onset]!) < 300) onset++;
        barges.push({ toClear: i.latencyMs, toLastFrame: Math.max(0, speaker.lastWrite - at), fromSpeech: line ? clearedAt - (line.startedAt + onset / 16) : NaN });
      }, 300);
    });
    const started = performance.now();
    await session.run({ input: caller.input(session, 300), output: speaker });
    audioSeconds += (performance.now() - started) / 1000;
  }));
  return { turns, barges, audioSeconds, wallSeconds: (performance.now() - t0) / 1000 };
}
