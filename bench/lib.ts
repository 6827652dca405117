import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { DeepgramAuraTts, DeepgramFluxStt, DeepgramStt, ElevenLabsTts, OpenAiLlm, OpenAiRealtime, VoiceSession, toneSynthesizer, type AudioFrame, type Synthesizer, type TurnEvent, type Vad } from '../src/index';
import { VirtualSpeaker } from '../src/adapters/index';
import { ScriptedCaller, type CallerLine } from '../src/testing/index';
import { playedText, spyTts } from '../test/helpers';

export interface Urls { listen: string; llm: string; tts: string; aura: string; flux: string; realtime: string }

/** The emulated TTS voices' milliseconds per character (bench/emulators.ts). */
export const MS_PER_CHAR = 55;

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
  /** When the recent frames were written, and their milliseconds. */
  readonly writes: { at: number; ms: number }[] = [];
  /** Where to note what the session did (see {@link runCallersOnly}), times from `t0`. */
  timeline?: Timeline;
  t0 = 0;
  override write(frame: AudioFrame): Promise<void> {
    this.lastWrite = performance.now();
    this.writes.push({ at: this.lastWrite, ms: (frame.samples.length * 1000) / frame.sampleRate });
    if (this.writes.length > 400) this.writes.splice(0, 200);
    this.timeline?.push({ at: this.lastWrite - this.t0, kind: 'write', samples: frame.samples.length });
    return super.write(frame);
  }
}

/** What a session did that its caller sees, in ms from its start: replayed by {@link runCallersOnly}. */
export type Timeline = ({ at: number; kind: 'start' } | { at: number; kind: 'end'; interrupted: boolean } | { at: number; kind: 'write'; samples: number })[];

export interface TurnRecord {
  /** Caller's end of speech → first agent audio written, measured outside the session. */
  v2v: number;
  /** Which of the caller's lines the turn answers (0 first). */
  line: number;
  latency: TurnEvent['latency'];
  preemption?: TurnEvent['preemption'];
}

export interface BargeRecord {
  toClear: number;
  toLastFrame: number;
  /** From the onset of the interrupting speech to `output.clear()`. */
  fromSpeech: number;
  /** Milliseconds of agent audio written to the output after that onset. */
  audioAfterOnset: number;
  /** Characters of the recorded heard text minus those actually played (whole words: ≤ 0 by up to a word). */
  heardError: number;
}

/** Options of {@link runSessions}. */
export interface RunOptions {
  /** The callers' voice (default: a tone). */
  synthesizer?: Synthesizer;
  /** A local VAD per session. */
  vad?: () => Promise<Vad>;
  /** Barge-in on the STT's speech-started event instead of words. */
  bargeOnSpeechStart?: boolean;
  /** The TTS: ElevenLabs (with alignment, default) or Deepgram Aura (none). */
  tts?: 'elevenlabs' | 'aura';
  /** Record what the TTS was sent and returned, to measure the heard-text error of barge-ins. */
  spy?: boolean;
  /** A realtime model (the Realtime emulator, 140 ms turn-end silence) instead of STT, LLM and TTS. */
  realtime?: boolean;
  /** Deepgram Flux instead of Deepgram live, with this `eagerEotThreshold` if given. */
  flux?: { eagerEotThreshold?: number };
  /** `preemptive: false`. */
  noPreemption?: boolean;
  /** Filled with each session's {@link Timeline}. */
  timelines?: Timeline[];
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
    const tts = opts.tts === 'aura' ? new DeepgramAuraTts({ apiKey: 'bench', baseURL: urls.aura, sampleRate: 16000 }) : new ElevenLabsTts({ apiKey: 'bench', voiceId: 'bench', baseURL: urls.tts, outputFormat: 'pcm_16000' });
    const spy = opts.spy ? spyTts(tts) : { tts, replies: [] };
    const session = opts.realtime
      ? new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'bench', baseURL: urls.realtime, turnDetection: { type: 'server_vad', silence_duration_ms: 140 } }) })
      : new VoiceSession({
          stt: opts.flux ? new DeepgramFluxStt({ apiKey: 'bench', baseURL: urls.flux, ...opts.flux }) : new DeepgramStt({ apiKey: 'bench', baseURL: urls.listen }),
          ...(opts.noPreemption ? { preemptive: false } : {}),
          llm: new OpenAiLlm({ apiKey: 'bench', baseURL: urls.llm, model: 'bench', maxRetries: 0 }),
          tts: spy.tts,
          ...(opts.vad ? { vad: await opts.vad() } : {}),
          ...(opts.bargeOnSpeechStart ? { bargeIn: { minWords: 0 } } : {}),
        });
    const caller = new ScriptedCaller({ lines, synthesizer: synth, leadMs: 200 });
    const speaker = new TimedSpeaker({ sampleRate: 16000 });
    session.on('turn', (t) => {
      const said = caller.spoken[caller.spoken.length - 1];
      if (said) turns.push({ v2v: t.timestamps.firstAudioOut! - said.endedAt, line: caller.spoken.length - 1, latency: t.latency, preemption: t.preemption });
    });
    session.on('interrupted', (i) => {
      const at = performance.now() - i.latencyMs;
      const clearedAt = performance.now();
      const line = caller.current;
      const reply = spy.replies[spy.replies.length - 1];
      const truth = reply ? playedText(reply, i.playedMs, MS_PER_CHAR).trim() : undefined;
      setTimeout(() => {
        // The onset of speech in the interrupting line (its audio may start with silence).
        let onset = 0;
        while (line && onset < line.audio.length && Math.abs(line.audio[onset]!) < 300) onset++;
        const onsetAt = line ? line.startedAt + onset / 16 : NaN;
        const audioAfterOnset = speaker.writes.filter((w) => w.at >= onsetAt).reduce((n, w) => n + w.ms, 0);
        barges.push({ toClear: i.latencyMs, toLastFrame: Math.max(0, speaker.lastWrite - at), fromSpeech: clearedAt - onsetAt, audioAfterOnset, heardError: truth === undefined ? NaN : i.heardText.length - truth.length });
      }, 300);
    });
    const started = performance.now();
    if (opts.timelines) {
      const timeline: Timeline = (opts.timelines[k] = []);
      speaker.timeline = timeline;
      speaker.t0 = started;
      session.on('agent_speech_started', () => timeline.push({ at: performance.now() - started, kind: 'start' }));
      session.on('agent_speech_ended', (e) => timeline.push({ at: performance.now() - started, kind: 'end', interrupted: e.interrupted }));
    }
    await session.run({ input: caller.input(session, 300), output: speaker });
    audioSeconds += (performance.now() - started) / 1000;
  }));
  return { turns, barges, audioSeconds, wallSeconds: (performance.now() - t0) / 1000 };
}

/**
 * The callers of a {@link runSessions} run without voxline: the same scripted callers and
 * speakers, each driven by a stand-in that reads the microphone and replays its session's
 * {@link Timeline} (speech events and frame writes at the same times). Its CPU is what the bench's
 * callers cost, to take out of the total.
 */
export async function runCallersOnly(timelines: Timeline[], lines: CallerLine[]): Promise<{ audioSeconds: number }> {
  const synth = toneSynthesizer({ sampleRate: 16000, msPerChar: 45 });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let audioSeconds = 0;
  await Promise.all(timelines.map(async (timeline, k) => {
    await sleep((k * 20) % 1000);
    const stand = Object.assign(new EventEmitter(), { agentSpeaking: false });
    const caller = new ScriptedCaller({ lines, synthesizer: synth, leadMs: 200 });
    const speaker = new TimedSpeaker({ sampleRate: 16000 });
    const started = performance.now();
    const agent = (async () => {
      for (const e of timeline) {
        const wait = started + e.at - performance.now();
        if (wait > 1) await sleep(wait);
        if (e.kind === 'write') await speaker.write({ samples: new Int16Array(e.samples), sampleRate: 16000 });
        else {
          stand.agentSpeaking = e.kind === 'start';
          stand.emit(e.kind === 'start' ? 'agent_speech_started' : 'agent_speech_ended', { text: '', interrupted: e.kind === 'end' && e.interrupted });
        }
      }
    })();
    for await (const _ of caller.input(stand as unknown as VoiceSession, 300)); // a session reads the microphone
    await agent;
    await speaker.close();
    audioSeconds += (performance.now() - started) / 1000;
  }));
  return { audioSeconds };
}

/** One measured pass of {@link measurePasses}: CPU in % of a core per session, memory in MB per session. */
export interface MeasuredPass {
  turns: TurnRecord[];
  /** The process's CPU over the pass (voxline and the callers). */
  total: number;
  /** The callers' CPU, from the replay of the pass's timelines. */
  callers: number;
  /** `total - callers`. */
  voxline: number;
  /** voxline's CPU per session, in ms. */
  voxlineMs: number;
  /** Mean length of the sessions, in seconds. */
  seconds: number;
  /** Growth of peak RSS over the pass's start. */
  rssMB: number;
}

/**
 * Measures `passes` passes of `n` sessions, one after another with nothing in between, as a server
 * that keeps serving calls runs them; then replays each pass's callers without voxline (after one
 * unmeasured replay that warms the replay's own code) to take their CPU out. Measuring a pass
 * right after a forced GC and a replay, with voxline's code idle meanwhile, read half as much
 * again for the same sessions (0.77 against 0.49 % of a core in total at 10 sessions).
 */
export async function measurePasses(urls: Urls, n: number, lines: CallerLine[], passes: number): Promise<MeasuredPass[]> {
  const percent = (cpu: NodeJS.CpuUsage, seconds: number) => (100 * (cpu.user + cpu.system)) / 1000 / (seconds * 1000);
  const runs: { turns: TurnRecord[]; total: number; seconds: number; rssMB: number; timelines: Timeline[] }[] = [];
  for (let p = 0; p < passes; p++) {
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
    const timelines: Timeline[] = [];
    const cpu0 = process.cpuUsage();
    const r = await runSessions(urls, n, lines, { timelines });
    const total = percent(process.cpuUsage(cpu0), r.audioSeconds);
    clearInterval(sampler);
    runs.push({ turns: r.turns, total, seconds: r.audioSeconds / n, rssMB: (peak - rss0) / n / 2 ** 20, timelines });
  }
  await runCallersOnly(runs[0]!.timelines, lines);
  const out: MeasuredPass[] = [];
  for (const r of runs) {
    const cpu0 = process.cpuUsage();
    const c = await runCallersOnly(r.timelines, lines);
    const callers = percent(process.cpuUsage(cpu0), c.audioSeconds);
    out.push({ turns: r.turns, total: r.total, callers, voxline: r.total - callers, voxlineMs: ((r.total - callers) / 100) * r.seconds * 1000, seconds: r.seconds, rssMB: r.rssMB });
  }
  return out;
}
