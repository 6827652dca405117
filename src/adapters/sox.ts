import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { AudioFrame } from '../audio/frame';
import { assertSampleRate } from '../audio/frame';
import { ConfigError } from '../errors';
import { PcmOutput, pcmInput } from './node-streams';
import type { AudioOutput } from './types';

/** Which command-line audio tools to use. */
export type AudioTool = 'sox' | 'alsa';

/** Options of {@link soxMic} and {@link soxSpeaker}. */
export interface LocalAudioOptions {
  /** Sample rate (default 16000). */
  sampleRate?: number;
  /** `sox` (`rec`/`play`, default) or `alsa` (`arecord`/`aplay`). */
  tool?: AudioTool;
  /** Device name (default: the system default). */
  device?: string;
  /** Extra arguments for the recorder or player (e.g. reading from a file for tests). */
  args?: string[];
  /** Override the program (e.g. `sox` with `args` to read a file instead of the mic). */
  command?: string;
}

const PACKAGES: Record<string, string> = { rec: 'sox', play: 'sox', sox: 'sox', arecord: 'alsa-utils', aplay: 'alsa-utils' };

/** Throws a {@link ConfigError} naming the package to install when `program` is not on the PATH. */
export function requireProgram(program: string): void {
  const r = spawnSync(program, ['--version'], { stdio: 'ignore' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    const pkg = PACKAGES[program] ?? program;
    throw new ConfigError(`'${program}' was not found on the PATH. Install it, e.g. 'sudo apt-get install ${pkg}' (Debian/Ubuntu) or 'brew install ${pkg}' (macOS).`);
  }
}

function rawArgs(rate: number): string[] {
  return ['-t', 'raw', '-r', String(rate), '-e', 'signed', '-b', '16', '-c', '1'];
}

/** The local microphone through SoX `rec` (or ALSA `arecord`), as 20 ms frames. */
export async function* soxMic(options: LocalAudioOptions = {}): AsyncGenerator<AudioFrame> {
  const rate = options.sampleRate ?? 16000;
  assertSampleRate(rate, 'soxMic');
  const alsa = options.tool === 'alsa';
  const command = options.command ?? (alsa ? 'arecord' : 'rec');
  requireProgram(command);
  const args = options.args ?? (alsa ? ['-q', '-f', 'S16_LE', '-c', '1', '-r', String(rate), '-t', 'raw', ...(options.device ? ['-D', options.device] : [])] : ['-q', ...rawArgs(rate), '-']);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'], env: options.device && !alsa ? { ...process.env, AUDIODEV: options.device } : process.env });
  try {
    yield* pcmInput(proc.stdout!, { sampleRate: rate });
  } finally {
    proc.kill();
  }
}

/**
 * The local speaker through SoX `play` (or ALSA `aplay`). `clear()` stops the player at once and
 * starts a fresh one, so queued audio is dropped on barge-in.
 */
export class SoxSpeaker implements AudioOutput {
  readonly sampleRate: number;
  private proc!: ChildProcess;
  private out!: PcmOutput;
  private playedBefore = 0;
  private writtenBefore = 0;

  constructor(private readonly options: LocalAudioOptions = {}) {
    this.sampleRate = options.sampleRate ?? 16000;
    assertSampleRate(this.sampleRate, 'soxSpeaker');
    requireProgram(this.command);
    this.start();
  }

  private get command(): string {
    return this.options.command ?? (this.options.tool === 'alsa' ? 'aplay' : 'play');
  }

  private start(): void {
    const alsa = this.options.tool === 'alsa';
    const args = this.options.args ?? (alsa ? ['-q', '-f', 'S16_LE', '-c', '1', '-r', String(this.sampleRate), '-t', 'raw', ...(this.options.device ? ['-D', this.options.device] : [])] : ['-q', ...rawArgs(this.sampleRate), '-']);
    this.proc = spawn(this.command, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    this.proc.stdin!.on('error', () => {});
    this.out = new PcmOutput(this.proc.stdin!, this.sampleRate);
  }

  get playedMs(): number {
    return this.playedBefore + this.out.playedMs;
  }

  get writtenMs(): number {
    return this.writtenBefore + this.out.writtenMs;
  }

  write(frame: AudioFrame): Promise<void> {
    return this.out.write(frame);
  }

  clear(): void {
    this.out.clear();
    this.playedBefore += this.out.playedMs;
    this.writtenBefore += this.out.writtenMs;
    this.proc.kill();
    this.start();
  }

  drain(): Promise<void> {
    return this.out.drain();
  }

  async close(): Promise<void> {
    await this.out.close();
    await new Promise<void>((r) => (this.proc.exitCode !== null ? r() : this.proc.once('exit', () => r())));
  }
}

/** The local speaker (see {@link SoxSpeaker}). */
export function soxSpeaker(options?: LocalAudioOptions): SoxSpeaker {
  return new SoxSpeaker(options);
}
