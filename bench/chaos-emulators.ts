// The chaos soak's providers (bench/chaos.ts): built here, run in the soak's own process or, with
// `--emulators process`, in a child process of their own (this file run directly), so that the
// voice server's event loop carries voxline alone. The child reads JSON lines on stdin (`inject`,
// `forget`) and writes JSON lines: its URLs first, then which providers have a fault pending.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { toneSynthesizer } from '../src/index';
import { AuraEmulator, CartesiaEmulator, DeepgramEmulator, DeepgramFluxEmulator, ElevenLabsEmulator, type Emulator, type FaultPlan, OpenAiEmulator, RealtimeEmulator, type Responder } from '../src/testing/index';

export type Provider = 'deepgram' | 'flux' | 'openai' | 'elevenlabs' | 'cartesia' | 'aura' | 'realtime';
export const LINE = 'check my order please';

/** The soak's providers as the soak sees them, wherever they run. */
export interface ChaosProviders {
  baseURL: Record<Provider, string>;
  /** The next connection (or request) to `p` fails with `fault`. */
  inject(p: Provider, fault: FaultPlan): void;
  /** A fault injected on `p` has not been taken by a connection yet. */
  pending(p: Provider): boolean;
  /** Forgets what the emulators received (it grows with every message). */
  forget(): void;
  close(): Promise<void>;
}

/** The emulators, each at a realistic pace (faster than the reference budget, to fit more turns). */
function build(): Record<Provider, Emulator> {
  const synth = toneSynthesizer({ sampleRate: 16000, msPerChar: 40 });
  const script = { next: () => LINE };
  // A reply of about 4 s: long enough for a caller to barge in on it.
  const responder: Responder = (req) => {
    const last = [...req.messages].reverse().find((m) => m.role === 'user');
    const said = typeof last?.content === 'string' ? last.content : LINE;
    return { content: `You said: ${said}. Let me look into that for you, it will only take a moment.` };
  };
  return {
    deepgram: new DeepgramEmulator({ script, finalDelayMs: 140 }),
    flux: new DeepgramFluxEmulator({ script, confidenceRampMs: 200 }),
    openai: new OpenAiEmulator({ timeToFirstTokenMs: 150, tokensPerSecond: 80, responder }),
    elevenlabs: new ElevenLabsEmulator({ synthesizer: synth, timeToFirstAudioMs: 120, realtimeFactor: 0.3 }),
    cartesia: new CartesiaEmulator({ synthesizer: synth, timeToFirstAudioMs: 120, realtimeFactor: 0.3, concurrencyLimit: 1000 }),
    aura: new AuraEmulator({ synthesizer: synth, timeToFirstAudioMs: 120, realtimeFactor: 0.3 }),
    realtime: new RealtimeEmulator({ script, responder, synthesizer: synth, timeToFirstAudioMs: 300, realtimeFactor: 0.3 }),
  };
}

const isPending = (e: Emulator) => Object.values(e.faults).some((f) => f !== undefined && f !== false);
function forgetAll(emus: Record<Provider, Emulator>): void {
  for (const e of Object.values(emus)) e.record = { connections: [], messages: [], bodies: [], audioBytes: 0, audioMessages: 0 };
  (emus.realtime as RealtimeEmulator).sessions.length = 0;
}

/** The providers in this process. */
export async function inlineProviders(): Promise<ChaosProviders> {
  const emus = build();
  await Promise.all(Object.values(emus).map((e) => e.start()));
  return {
    baseURL: Object.fromEntries(Object.entries(emus).map(([p, e]) => [p, e.baseURL])) as Record<Provider, string>,
    inject: (p, fault) => emus[p].inject(fault),
    pending: (p) => isPending(emus[p]),
    forget: () => forgetAll(emus),
    close: async () => void (await Promise.all(Object.values(emus).map((e) => e.close()))),
  };
}

/** The providers in a child process of their own. */
export async function processProviders(): Promise<ChaosProviders> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const pendingNow: Partial<Record<Provider, boolean>> = {};
  const baseURL = await new Promise<Record<Provider, string>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the chaos emulators exited (${code})`)));
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { urls?: Record<Provider, string>; pending?: Record<Provider, boolean> };
      if (msg.urls) resolve(msg.urls);
      if (msg.pending) Object.assign(pendingNow, msg.pending);
    });
  });
  const send = (msg: object) => child.stdin!.write(`${JSON.stringify(msg)}\n`);
  return {
    baseURL,
    inject: (p, fault) => {
      pendingNow[p] = true;
      send({ inject: p, fault });
    },
    pending: (p) => pendingNow[p] === true,
    forget: () => send({ forget: true }),
    close: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

// Run directly: serve the emulators to the parent over stdin/stdout.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const emus = build();
  await Promise.all(Object.values(emus).map((e) => e.start()));
  const write = (msg: object) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  write({ urls: Object.fromEntries(Object.entries(emus).map(([p, e]) => [p, e.baseURL])) });
  let last = '';
  const report = () => {
    const now = JSON.stringify(Object.fromEntries(Object.entries(emus).map(([p, e]) => [p, isPending(e)])));
    if (now !== last) write({ pending: JSON.parse(now) });
    last = now;
  };
  const timer = setInterval(report, 100);
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      const msg = JSON.parse(line) as { inject?: Provider; fault?: FaultPlan; forget?: boolean };
      if (msg.inject) emus[msg.inject].inject(msg.fault!);
      if (msg.forget) forgetAll(emus);
      report();
    })
    .on('close', () => {
      clearInterval(timer);
      void Promise.all(Object.values(emus).map((e) => e.close())).then(() => process.exit(0));
    });
}
