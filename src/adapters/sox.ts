import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { AudioFrame } from '../audio/frame';
import { assertSampleRate } from '../audio/frame';
import { ConfigError, DeviceError } from '../errors';
import { PcmOutput, pcmInput } from './node-streams';
import type { AudioOutput } from './types';

/** Which command-line audio tools to use. */
export type AudioTool = 'sox' | 'alsa';

/** Options of {@link soxMic} and {@link soxSpeaker}. */
export interface LocalAudioOptions {
  /** Sample rate (default 16000). */
  sampleRate?: number | undefined;
  /** `sox` (`rec`/`play`, default) or `alsa` (`arecord`/`aplay`). */
  tool?: AudioTool | undefined;
  /** Device name (default: the system default). */
  device?: string | undefined;
  /** Extra arguments for the recorder or player (e.g. reading from a file for tests). */
  args?: string[] | undefined;
  /** Override the program (e.g. `sox` with `args` to read a file instead of the mic). */
  command?: string | undefined;
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

/** The last 2 KB a child process wrote to stderr, for error messages. */
function stderrTail(proc: ChildProcess): () => string {
  let tail = '';
  proc.stderr?.on('data', (d: Buffer) => (tail = (tail + String(d)).slice(-2048)));
  return () => tail.trim();
}

/** What went wrong with a recorder or player that exited on its own, and how to fix it. */
function deviceError(role: 'microphone' | 'speaker', command: string, code: number | null, signal: NodeJS.Signals | null, stderr: string, device?: string): DeviceError {
  const how = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
  const said = stderr ? `: ${stderr.split('\n').slice(-3).join(' | ')}` : '';
  const fix = device
    ? `check that the device '${device}' exists (\`${command === 'arecord' || command === 'aplay' ? `${command} -l` : 'sox -h'}\` lists what is available)`
    : `check that a ${role} is connected and is the system default (or pass \`device\`), and that this user may open it`;
  return new DeviceError(`The ${role} (${command}) ${how}${said}. ${fix[0]!.toUpperCase()}${fix.slice(1)}.`);
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
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.device && !alsa ? { ...process.env, AUDIODEV: options.device } : process.env });
  const stderr = stderrTail(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', () => resolve({ code: -1, signal: null }));
    proc.once('close', (code, signal) => resolve({ code, signal }));
  });
  let ended = false;
  try {
    yield* pcmInput(proc.stdout!, { sampleRate: rate });
    ended = true;
  } finally {
    if (!ended) proc.kill();
  }
  // The recorder stopped on its own: a device that would not open, or one that went away.
  const { code, signal } = await exited;
  if (code !== 0) throw deviceError('microphone', command, code, signal, stderr(), options.device);
}

/**
 * The local speaker through SoX `play` (or ALSA `aplay`). `clear()` stops the player at once and
 * starts a fresh one, so queued audio is dropped on barge-in.
 */
export class SoxSpeaker implements AudioOutput {
  readonly sampleRate: number;
  private proc!: ChildProcess;
  private out!: PcmOutput;
  private failure?: DeviceError;
  private failed!: Promise<never>;
  private playedBefore = 0;
  private writtenBefore = 0;

  /** Checks the options (a missing program is a `ConfigError`) and starts the player. */
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
    const proc = spawn(this.command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc = proc;
    const stderr = stderrTail(proc);
    proc.stdin!.on('error', () => {});
    // A player that dies on its own (no device, device gone) fails every write from then on,
    // those waiting included, instead of leaving them to wait forever.
    this.failed = new Promise<never>((_, reject) => {
      const fail = (code: number | null, signal: NodeJS.Signals | null) => {
        if (proc !== this.proc || (this.closing && code === 0)) return; // replaced by clear(), or ended by close()
        this.failure = deviceError('speaker', this.command, code, signal, stderr(), this.options.device);
        reject(this.failure);
      };
      proc.once('error', () => fail(-1, null));
      proc.once('close', fail);
    });
    this.failed.catch(() => {});
    this.out = new PcmOutput(proc.stdin!, this.sampleRate);
  }

  get playedMs(): number {
    return this.playedBefore + this.out.playedMs;
  }

  get writtenMs(): number {
    return this.writtenBefore + this.out.writtenMs;
  }

  write(frame: AudioFrame): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.race([this.out.write(frame), this.failed]);
  }

  clear(): void {
    if (this.failure) return;
    this.out.clear();
    this.playedBefore += this.out.playedMs;
    this.writtenBefore += this.out.writtenMs;
    this.proc.kill();
    this.start();
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.race([this.out.drain(), this.failed]);
  }

  private closing = false;

  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    this.closing = true;
    const proc = this.proc;
    const exited = new Promise<void>((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('close', () => r())));
    await Promise.race([this.out.close(), this.failed]);
    await Promise.race([exited, this.failed]);
  }
}

/** The local speaker (see {@link SoxSpeaker}). */
export function soxSpeaker(options?: LocalAudioOptions): SoxSpeaker {
  return new SoxSpeaker(options);
}
