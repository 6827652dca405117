// The chaos soak: many concurrent calls (browser and Twilio callers) through one voice server,
// each with a pipeline (Deepgram live or Flux, the OpenAI-compatible LLM, ElevenLabs, Cartesia or
// Aura) or the Realtime brain, while every provider fails at random (socket drops, stalls longer
// than the clients' stall timers, 429/500 refusals, a stream cut mid-reply, malformed messages,
// slow handshakes) and, halfway, the server drains. It checks that no user turn is lost or
// answered twice, that every call leaves exactly one record, that nothing crashes, and that the
// process's resources and heap come back. Used by `npm run bench -- --only chaos` (bench/run.ts)
// and, small, by test/server/chaos.test.ts.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { percentiles } from '../src/session/metrics';
import { runInNewContext } from 'node:vm';
import { DeepgramAuraTts, DeepgramFluxStt, DeepgramStt, ElevenLabsTts, OpenAiLlm, OpenAiRealtime, VoiceSession, VoxlineError, toneSynthesizer, type Percentiles, type TtsStream } from '../src/index';
import { CartesiaTts } from '../src/tts/cartesia';
import { type CallRecord, createVoiceServer } from '../src/server/index';
import { type FaultPlan, TwilioCallEmulator } from '../src/testing/index';
import { LINE, type Provider, inlineProviders, processProviders } from './chaos-emulators';
import { BrowserCaller } from '../test/server/call-client';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** Calls placed before the drain (all at once, their starts spread over `spreadMs`). */
  calls: number;
  /** Most lines a caller says (each call says 1 to `turns`, at random). */
  turns: number;
  /** The calls' starts are spread over this long (default 3000 ms). */
  spreadMs?: number;
  /** When the drain starts, from the first call (default: half the expected length of a call). */
  drainAtMs?: number;
  /** The server's `drainTimeoutMs` (default 10 000). */
  drainTimeoutMs?: number;
  /** About one fault per this many user turns, per provider (default 20). */
  faultEveryTurns?: number;
  /** Seed of every random choice (default 1). */
  seed?: number;
  /** Calls tried after the drain started: each must be refused (default 3). */
  probes?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /**
   * Sustained load: keep `calls` calls in flight for this long, each call that ends replaced by a
   * new one (same mix), then drain (at `drainAtMs`, default at the end of `durationMs`).
   */
  durationMs?: number;
  /** Inject provider faults (default true; false: the fault-free baseline). */
  faults?: boolean;
  /**
   * One call in this many (default 4) is calm: its providers (a second set of emulators, under the
   * same load) never fail. A fault hits its provider's next connection, whichever call makes it,
   * so only these calls' turns surely met no fault: their latency is the one compared with the
   * baseline's (the same calls, without faults anywhere).
   */
  calmEvery?: number;
  /**
   * Where the providers' emulators run: in this process (default), or in a child process of their
   * own, so that the voice server's event loop carries voxline alone (the callers stay here).
   */
  emulators?: 'inline' | 'process' | undefined;
}

/** Voice-to-voice latencies (ms) of answered turns: of the calm calls (whose providers never fail), and of the others. */
export interface ChaosLatency {
  /** Turns of the calm calls, and of the calls exposed to faults. */
  clean: Percentiles;
  faulted: Percentiles;
  /** Turns slower than 3 s (the first 20): their call and timestamps from the end of speech. */
  slow: string[];
}

/** What {@link runChaos} saw. */
export interface ChaosReport {
  /** Calls placed before the drain (in duration mode, the replacements too), and how many the server took (its agent factory ran). */
  placed: number;
  accepted: number;
  /** Calls refused before the drain (0 expected: below maxCalls). */
  refusedBeforeDrain: number;
  /** Calls tried after the drain started, and how many of them the server took (0 expected). */
  probes: number;
  acceptedAfterDrain: number;
  /** Records delivered, per ending; records with an id seen twice; calls without a record. */
  records: number;
  endings: Record<string, number>;
  duplicateRecords: number;
  /** What ended the calls that ended on an error (provider, code, message), with how many. */
  fatal: Record<string, number>;
  /** User turns the STT finalised, and what became of them. */
  userTurns: number;
  answered: number;
  /** Not answered, but the apology was spoken and a typed `error` event came. */
  apologised: number;
  /** Not answered and nothing spoken, a typed `error` event came (the voice itself had failed). */
  errorOnly: number;
  /** Still waiting for its reply when the call ended by the drain, the caller vanishing or a provider failing for good. */
  cutByCallEnd: number;
  /**
   * The caller spoke again before any reply to it started: the next turn's answer comes with both
   * in the history (a barge-in on a reply still being prepared).
   */
  superseded: number;
  /** Dropped silently: no answer, no apology, no error, and the call went on. */
  lost: number;
  /** For each lost, answered-twice or unspoken-error turn: the call's plan, the turn's place and how the call ended. */
  details: string[];
  /** Answered (the reply was spoken) without a `turn` event: its latency could not be measured. */
  answeredWithoutTurnEvent: number;
  /** Answered more than once. */
  answeredTwice: number;
  /** Replies cut off by the caller, and how many of their heard texts are in the history as said. */
  interruptions: number;
  heardInHistory: number;
  /** Error events: typed (a VoxlineError) and not. */
  typedErrors: number;
  untypedErrors: number;
  /** Faults injected, by provider and kind. */
  faults: Record<string, Record<string, number>>;
  /** Sessions that had not closed (no `closed` event) once the drain was over. */
  openSessions: number;
  /** Unhandled rejections and uncaught exceptions during the run. */
  unhandled: number;
  /** Active resources (`process.getActiveResourcesInfo()`) before the server and after the drain, and what is left over. */
  resources: { before: Record<string, number>; after: Record<string, number>; leaked: Record<string, number> };
  /** Heap used after a full GC, MB: before the server, when the drain started, after it. */
  heapMB: { before: number; atDrain: number; after: number };
  /** Wall time of the run, seconds. */
  wallSeconds: number;
  /** This process (the voice server and the callers) under load: CPU in % of a core, and its event loop's delay (p50, p99, ms). */
  load: { cpuPercent: number; loopDelayMs: { p50: number; p99: number } };
  /** Voice-to-voice latency of the answered turns (from their `turn` events). */
  latency: ChaosLatency;
  /** In duration mode: heap after GC (MB), sampled each minute under load (`minute` from the start), the last at the end of the load. */
  heapSamples: { minute: number; mb: number }[];
  /** In duration mode: the load's length (ms) and whether faults were on. */
  durationMs?: number;
  faultsOn: boolean;
}

const TOKEN = 'chaos-twilio-token';
const KEY = 'chaos-key';
const APOLOGY = 'Sorry, I ran into a problem. Could you say that again?';

/** A small seeded PRNG (mulberry32): the same seed, the same calls and faults. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `obj` with its streaming method `method` noting, for an odd call's details, when each call of
 * it starts, yields first, ends or fails.
 */
function traced<T extends object>(obj: T, method: string, name: string, note: (what: string) => void): T {
  const m = obj as unknown as Record<string, (...a: unknown[]) => AsyncIterable<unknown>>;
  const inner = m[method]!.bind(obj);
  let n = 0;
  m[method] = (...args: unknown[]) =>
    (async function* () {
      const k = ++n;
      note(`${name}${k} start`);
      let first = true;
      try {
        for await (const x of inner(...args)) {
          if (first) note(`${name}${k} first`);
          first = false;
          yield x;
        }
        note(`${name}${k} end`);
      } catch (err) {
        note(`${name}${k} threw ${(err as VoxlineError).code ?? (err as Error).message?.slice(0, 30)}`);
        throw err;
      } finally {
        if (first) note(`${name}${k} done`);
      }
    })();
  return obj;
}

/** A full GC (exposed on demand), then the heap used in MB. */
function heapAfterGc(): number {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (!exposed) setFlagsFromString('--expose-gc');
  const gc = exposed ?? (runInNewContext('gc') as () => void);
  gc();
  gc();
  return getHeapStatistics().used_heap_size / 2 ** 20;
}

function countResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}


interface Plan {
  channel: 'browser' | 'twilio';
  brain: 'pipeline' | 'realtime';
  stt: 'deepgram' | 'flux';
  tts: 'elevenlabs' | 'cartesia' | 'aura';
  lines: number;
  /** Lines said while the agent speaks (barge-ins). */
  barge: Set<number>;
  /** Vanish after this line instead of hanging up. */
  vanishAfter?: number;
  /** Its providers never fail (see `calmEvery`). */
  calm: boolean;
}

interface TurnTrack { answers: number; apology: boolean; error: boolean; agentSpoke: boolean; replied: boolean }

interface CallTrack {
  plan: Plan;
  session: VoiceSession;
  turns: TurnTrack[];
  speechStarted: number;
  speechEnded: number;
  closed: boolean;
  /** When the agent last started or stopped speaking (performance.now()). */
  lastActivity: number;
  /** Why the session closed. */
  reason?: string;
  /** The caller said goodbye itself, or vanished. */
  hungUp: boolean;
  vanished: boolean;
  /** What happened on the call, for the details of an odd turn (capped). */
  events: string[];
  born: number;
}

/** Runs the soak and reports what it saw (it asserts nothing: the caller checks the report). */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const random = rng(o.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  const t0 = performance.now();
  let unhandled = 0;
  const onUnhandled = (err: unknown) => {
    unhandled++;
    log(`unhandled: ${(err as Error)?.stack ?? String(err)}`);
  };
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtExceptionMonitor', onUnhandled);

  // The providers (bench/chaos-emulators.ts), here or in a process of their own.
  const host = o.emulators === 'process' ? processProviders : inlineProviders;
  const [emus, calmEmus] = await Promise.all([host(), host()]);
  const speech16 = (await toneSynthesizer({ sampleRate: 16000, msPerChar: 40 })(LINE)).samples;
  const resourcesBefore = countResources();
  const heapBefore = heapAfterGc();

  // Faults: on each user turn, each provider of the call fails next with probability 1/faultEveryTurns.
  const faultCount: Record<string, Record<string, number>> = {};
  const kinds: Record<Provider, (() => [string, FaultPlan])[]> = (() => {
    const refuse = (status: number) => (): [string, FaultPlan] => [`refuse ${status}`, { refuse: { count: 1, status } }];
    const drop = (): [string, FaultPlan] => ['socket drop', { closeMidStream: { afterMs: between(300, 3000), afterMessages: between(1, 6) } }];
    const stall = (): [string, FaultPlan] => ['stall', { stall: { afterMessages: between(1, 6) } }];
    const malformed = (): [string, FaultPlan] => ['malformed message', { malformed: true }];
    const slow = (): [string, FaultPlan] => ['slow handshake', { slowHandshake: { delayMs: between(1000, 4000) } }];
    const cut = (): [string, FaultPlan] => ['stream cut mid-reply', { closeMidStream: { afterMessages: between(2, 8) } }];
    return {
      deepgram: [drop, stall, refuse(500), refuse(429), malformed, slow],
      flux: [drop, refuse(500), refuse(429), slow],
      openai: [refuse(429), refuse(500), cut, stall, malformed],
      elevenlabs: [drop, stall, refuse(500), refuse(429), slow],
      cartesia: [drop, stall, refuse(500), refuse(429), malformed, slow],
      aura: [drop, stall, refuse(500), refuse(429), slow],
      realtime: [drop, refuse(500), refuse(429), malformed, slow],
    };
  })();
  const every = o.faultEveryTurns ?? 20;
  const providersOf = (p: Plan): Provider[] => (p.brain === 'realtime' ? ['realtime'] : [p.stt, 'openai', p.tts]);
  const faultsOn = o.faults ?? true;
  const maybeFault = (plan: Plan) => {
    if (!faultsOn || plan.calm) return;
    for (const p of providersOf(plan)) {
      if (random() >= 1 / every) continue;
      const [kind, fault] = pick(kinds[p])();
      emus.inject(p, fault);
      (faultCount[p] ??= {})[kind] = (faultCount[p]![kind] ?? 0) + 1;
    }
  };

  // The calls' plans.
  const calmEvery = o.calmEvery ?? 4;
  const makePlan = (k: number): Plan => {
    const lines = between(1, o.turns);
    const barge = new Set<number>();
    for (let i = 1; i < lines; i++) if (random() < 0.15) barge.add(i);
    return {
      channel: random() < 0.5 ? 'browser' : 'twilio',
      brain: random() < 0.2 ? 'realtime' : 'pipeline',
      stt: random() < 0.5 ? 'deepgram' : 'flux',
      tts: pick(['elevenlabs', 'cartesia', 'aura'] as const),
      lines,
      barge,
      ...(random() < 0.1 ? { vanishAfter: between(0, lines - 1) } : {}),
      calm: k % calmEvery === calmEvery - 1,
    };
  };
  const plans = new Map(Array.from({ length: o.calls + (o.probes ?? 3) }, (_, k) => [k, makePlan(k)]));
  /** In duration mode, calls past the first `calls + probes` get their plans as they are placed. */
  let nextCall = plans.size;
  const newCall = (): number => {
    plans.set(nextCall, makePlan(nextCall));
    return nextCall++;
  };
  const clean: number[] = [];
  const faulted: number[] = [];
  const slowTurns: string[] = [];

  const tracks = new Map<number, CallTrack>();
  // Records are tallied as they come; kept (for the details of odd turns) only in the short mode,
  // so a long run's heap stays flat.
  const records: CallRecord[] = [];
  const ids = new Set<string>();
  let duplicateRecords = 0;
  let recordCount = 0;
  const endings: Record<string, number> = {};
  const fatal: Record<string, number> = {};
  let interruptions = 0;
  let heardInHistory = 0;
  const onRecord = (r: CallRecord) => {
    recordCount++;
    if (!o.durationMs) records.push(r);
    if (ids.has(r.id)) duplicateRecords++;
    ids.add(r.id);
    endings[r.ending] = (endings[r.ending] ?? 0) + 1;
    const e = r.error && `${r.error.provider ?? '-'} ${r.error.code}: ${r.error.message.slice(0, 120)}${r.errors.length ? ` (after: ${r.errors.map((x) => `${x.provider ?? '-'} ${x.code}`).join(', ')})` : ''}`;
    if (e) fatal[e] = (fatal[e] ?? 0) + 1;
    for (const i of r.interruptions) {
      if (!i.heardText.trim() || i.playedMs <= 0) continue;
      interruptions++;
      if (r.history.some((m) => m.role === 'assistant' && m.content === `${i.heardText}…`)) heardInHistory++;
    }
  };
  let draining = false;
  let acceptedAfterDrain = 0;
  let acceptedCount = 0;
  const stall = { stallTimeoutMs: 2000 };
  const vs = createVoiceServer({
    maxCalls: o.calls + 50,
    drainTimeoutMs: o.drainTimeoutMs ?? 10_000,
    closeTimeoutMs: 3000,
    twilio: { publicUrl: 'http://127.0.0.1', authToken: TOKEN },
    browser: { public: true },
    logger: { warn: (m) => log(m) },
    onCallEnd: (r) => onRecord(r),
    agent: (info) => {
      const k = Number(info.channel === 'browser' ? new URL(info.request.url ?? '/', 'http://x').searchParams.get('call') : info.parameters?.call);
      const plan = plans.get(k);
      if (!plan) throw new Error(`unknown call ${k}`);
      if (draining) acceptedAfterDrain++;
      acceptedCount++;
      const url = (plan.calm ? calmEmus : emus).baseURL;
      const tts = (): TtsStream =>
        plan.tts === 'elevenlabs' ? new ElevenLabsTts({ apiKey: KEY, voiceId: 'v', baseURL: url.elevenlabs, outputFormat: 'pcm_16000', ...stall })
        : plan.tts === 'cartesia' ? new CartesiaTts({ apiKey: KEY, voiceId: 'v', baseURL: url.cartesia, sampleRate: 16000, ...stall })
        : new DeepgramAuraTts({ apiKey: KEY, baseURL: url.aura, sampleRate: 16000, ...stall });
      const quiet = { warn: () => {} };
      const events: string[] = [];
      const born = performance.now();
      // The last 150 events of the call.
      const note = (what: string) => events.push(`${Math.round(performance.now() - born)} ${what}`) > 150 && events.shift();
      const session =
        plan.brain === 'realtime'
          ? new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: KEY, baseURL: url.realtime, turnDetection: { type: 'server_vad', silence_duration_ms: 300 }, connectTimeoutMs: 3000 }), logger: quiet })
          : new VoiceSession({
              stt: plan.stt === 'flux'
                ? new DeepgramFluxStt({ apiKey: KEY, baseURL: url.flux, connectTimeoutMs: 3000, ...stall })
                : new DeepgramStt({ apiKey: KEY, baseURL: url.deepgram, connectTimeoutMs: 3000, ...stall }),
              llm: traced(new OpenAiLlm({ apiKey: KEY, baseURL: url.openai, model: 'm', maxRetries: 1, ...stall }), 'respond', 'llm', note),
              tts: traced(tts(), 'synthesize', 'tts', note),
              // The LLM's first token: within the callers' patience (they wait 15 s for an answer).
              firstTokenTimeoutMs: 5000,
              logger: quiet,
            });
      const track: CallTrack = { plan, session, turns: [], speechStarted: 0, speechEnded: 0, closed: false, lastActivity: 0, hungUp: false, vanished: false, events, born };
      const current = () => track.turns[track.turns.length - 1];
      session.on('user_turn', () => note('user_turn'));
      session.on('turn', () => note('turn'));
      session.on('agent_speech_started', ({ text }) => note(`speech+ ${text.slice(0, 12)}`));
      session.on('agent_speech_ended', (e) => note(`speech- ${(e as { interrupted?: boolean }).interrupted ? 'cut' : ''}`));
      session.on('interrupted', () => note('interrupted'));
      session.on('error', (e) => note(`error ${(e as VoxlineError).provider ?? '-'} ${(e as VoxlineError).code ?? e.message.slice(0, 40)}`));
      session.on('closed', ({ reason }) => note(`closed ${reason}`));
      session.on('user_turn', () => {
        track.turns.push({ answers: 0, apology: false, error: false, agentSpoke: false, replied: false });
        maybeFault(plan);
      });
      session.on('turn', (ev) => {
        const turn = current();
        if (!turn) return;
        turn.answers++;
        if (turn.answers > 1) return;
        const v2v = ev.latency.voiceToVoice;
        const from = ev.timestamps.endOfSpeech;
        (plan.calm ? clean : faulted).push(v2v);
        if (v2v > 3000 && slowTurns.length < 20) slowTurns.push(`${Math.round(v2v)} ms ${plan.channel} ${plan.brain === 'realtime' ? 'realtime' : `${plan.stt}+${plan.tts}`} ${JSON.stringify(Object.fromEntries(Object.entries(ev.timestamps).map(([k, v]) => [k, Math.round((v as number) - from)])))}, the call's last events: ${events.slice(-14).join(' | ')}`);
      });
      session.on('agent_speech_started', ({ text }) => {
        track.speechStarted++;
        track.lastActivity = performance.now();
        if (current()) current()!.agentSpoke = true;
        if (text === APOLOGY && current()) current()!.apology = true;
        else if (current()) current()!.replied = true;
      });
      session.on('agent_speech_ended', () => {
        track.speechEnded++;
        track.lastActivity = performance.now();
      });
      session.on('error', (e) => {
        if (e instanceof VoxlineError) report.typedErrors++;
        else report.untypedErrors++;
        if (current()) current()!.error = true;
      });
      session.on('closed', ({ reason }) => {
        track.closed = true;
        track.reason = reason;
      });
      tracks.set(k, track);
      return session;
    },
  });
  const report = { typedErrors: 0, untypedErrors: 0 };
  const port = await vs.listen(0, '127.0.0.1');
  const wsUrl = `ws://127.0.0.1:${port}`;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let refusedBeforeDrain = 0;
  /** One caller: says its lines (waiting for each answer, or barging in), then hangs up or vanishes. */
  const call = async (k: number): Promise<void> => {
    const plan = plans.get(k)!;
    let mic: { say(s: Int16Array): Promise<void>; silence(ms: number): Promise<void>; open(): boolean; stop(): Promise<unknown>; vanish(): void };
    if (plan.channel === 'browser') {
      const page = await BrowserCaller.open(`${wsUrl}/browser?call=${k}`);
      if (typeof page === 'number') return void (draining || refusedBeforeDrain++);
      mic = { say: (s) => page.say(s, 700), silence: (ms) => page.silence(ms), open: () => page.open, stop: () => page.stop(), vanish: () => void page.vanish() };
    } else {
      const phone = new TwilioCallEmulator({ url: `${wsUrl}/twilio`, signedUrl: 'ws://127.0.0.1/twilio', authToken: TOKEN, customParameters: { call: String(k) } });
      try {
        await phone.connect();
      } catch {
        return void (draining || refusedBeforeDrain++);
      }
      let open = true;
      (phone as unknown as { ws: { once(e: 'close', f: () => void): void } }).ws.once('close', () => (open = false));
      mic = {
        say: async (s) => { await phone.say([{ samples: s, sampleRate: 16000 }]); await phone.silence(700); },
        silence: (ms) => phone.silence(ms),
        open: () => open,
        stop: () => phone.stop(),
        vanish: () => phone.vanish(),
      };
    }
    const waitFor = async (ready: () => boolean, ms: number) => {
      const end = performance.now() + ms;
      while (!ready() && mic.open() && performance.now() < end) await mic.silence(100);
    };
    await mic.silence(200);
    await waitFor(() => tracks.has(k), 5000);
    const track = tracks.get(k);
    for (let line = 0; track && line < plan.lines && mic.open() && !track.closed; line++) {
      const started = track.speechStarted;
      track.events.push(`${Math.round(performance.now() - track.born)} SAY ${line + 1}`);
      await mic.say(speech16);
      if (plan.barge.has(line + 1)) {
        // The next line is said over this line's reply, a moment after it starts.
        await waitFor(() => track.speechStarted > started || track.closed, 15_000);
        await mic.silence(between(200, 700));
        continue;
      }
      // A reply that started after the line began, and has ended (not the end of a reply this
      // line barged in on).
      await waitFor(() => (track.speechStarted > started && track.speechEnded >= track.speechStarted) || track.closed, 15_000);
      // A reply may pause (a stalled provider) and go on, or turn into the apology: the caller
      // listens until the agent has been quiet for longer than the clients' stall timers.
      const last = line === plan.lines - 1;
      await waitFor(() => track.closed || (!track.session.agentSpeaking && performance.now() - track.lastActivity > (last ? 2600 : between(300, 800))), 15_000);
      if (plan.vanishAfter === line) {
        track.vanished = true;
        return mic.vanish();
      }
    }
    if (track) track.hungUp = true;
    track?.events.push(`${Math.round(performance.now() - track.born)} HANGUP`);
    if (mic.open()) await mic.stop();
  };

  // What became of each user turn.
  const details: string[] = [];
  const tally = { userTurns: 0, answered: 0, apologised: 0, errorOnly: 0, cutByCallEnd: 0, superseded: 0, lost: 0, answeredTwice: 0, answeredWithoutTurnEvent: 0 };
  // An unanswered last turn was cut by the call's end when the drain, a provider failing for good
  // or the caller vanishing ended the call; not when the caller, having waited, hung up.
  const cutByEnd = (t: CallTrack) => t.vanished || ['server draining', 'stt failed', 'provider error', 'output failed'].includes(t.reason ?? '') || (!t.hungUp && draining);
  const classify = (t: CallTrack) =>
    t.turns.forEach((turn, i) => {
      const p = t.plan;
      const transcript = JSON.stringify(t.session.transcript);
      const rec = records.find((r) => JSON.stringify(r.transcript) === transcript && r.history.length === t.session.history.length);
      const detail = (what: string) =>
        details.length < 50 &&
        details.push(`${what}: record ${rec ? `${rec.ending} (${rec.reason}) after ${rec.durationMs} ms` : o.durationMs ? 'not kept' : 'none'}, session ${t.closed ? 'closed' : 'open'}, ${p.channel} ${p.brain === 'realtime' ? 'realtime' : `${p.stt}+openai+${p.tts}`}: turn ${i + 1} of ${t.turns.length} (${p.lines} lines, barge-ins before ${[...p.barge].join(',') || 'none'}), closed: ${t.reason}, hung up: ${t.hungUp}, transcript: ${JSON.stringify(t.session.transcript.map((e) => `${e.role[0]}${e.interrupted ? '*' : ''}: ${e.text.slice(0, 24)}`))}, events: ${t.events.join(' | ')}`);
      tally.userTurns++;
      if (turn.answers > 1) {
        tally.answeredTwice++;
        detail('answered twice');
      }
      if (turn.answers === 0 && turn.replied) {
        tally.answeredWithoutTurnEvent++;
        detail('answered, no turn event');
      }
      if (turn.answers > 0 || turn.replied) tally.answered++;
      else if (turn.apology && turn.error) tally.apologised++;
      else if (turn.error) {
        tally.errorOnly++;
        detail('error, nothing spoken');
      } else if (i === t.turns.length - 1 && cutByEnd(t)) tally.cutByCallEnd++;
      else if (i < t.turns.length - 1 && !turn.agentSpoke) tally.superseded++;
      else {
        tally.lost++;
        detail('lost');
      }
    });

  // Place the calls, drain halfway, then try a few more (each must be refused).
  // In duration mode each of the `calls` lines places a new call when its call ends, until the
  // drain; a call that ended and closed is tallied then and forgotten (the heap stays flat).
  const expectedCallMs = ((o.turns + 1) / 2) * 5000;
  const drainAt = o.drainAtMs ?? o.durationMs ?? expectedCallMs / 2;
  const spread = o.spreadMs ?? 3000;
  const forgetEmulatorRecords = () => emus.forget();
  const forget = async (k: number) => {
    const t = tracks.get(k);
    for (let i = 0; t && !t.closed && i < 50; i++) await sleep(100);
    if (!t?.closed) return;
    classify(t);
    tracks.delete(k);
    plans.delete(k);
  };
  const running = Array.from({ length: o.calls }, async (_, k) => {
    await sleep((k * spread) / Math.max(1, o.calls));
    await call(k);
    if (!o.durationMs) return;
    await forget(k);
    while (!draining) {
      const next = newCall();
      await call(next);
      await forget(next);
    }
  });
  // Heap after GC each minute of the load, and at its end.
  // (What the emulators received is forgotten first: it grows with every message.)
  const heapSamples: { minute: number; mb: number }[] = [];
  const sample = () => {
    forgetEmulatorRecords();
    heapSamples.push({ minute: (performance.now() - t0) / 60_000, mb: heapAfterGc() });
  };
  const sampler = o.durationMs ? setInterval(sample, 60_000) : undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const load0 = performance.now();
  await sleep(drainAt);
  loop.disable();
  const cpu = process.cpuUsage(cpu0);
  const load = { cpuPercent: ((cpu.user + cpu.system) / 1000 / (performance.now() - load0)) * 100, loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6 } };
  clearInterval(sampler);
  if (o.durationMs && !heapSamples.some((h) => performance.now() - t0 - h.minute * 60_000 < 5000)) sample();
  log(`drain at ${((performance.now() - t0) / 1000).toFixed(1)} s: ${vs.activeCalls} calls in progress`);
  const heapAtDrain = getHeapStatistics().used_heap_size / 2 ** 20;
  draining = true;
  const drained = vs.drain();
  await sleep(100);
  const probes = Array.from({ length: o.probes ?? 3 }, (_, i) => call(o.calls + i));
  await Promise.all([drained, ...running, ...probes]);
  log(`drained at ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Resources back: wait for the last sockets and timers to go (a few seconds at most).
  let after = countResources();
  const leakedOf = (a: Record<string, number>) => Object.fromEntries(Object.entries(a).flatMap(([k, n]) => (n > (resourcesBefore[k] ?? 0) ? [[k, n - (resourcesBefore[k] ?? 0)]] : [])));
  for (let i = 0; i < 60 && Object.keys(leakedOf(after)).length; i++) {
    await sleep(100);
    after = countResources();
  }
  await Promise.all([emus.close(), calmEmus.close()]);
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtExceptionMonitor', onUnhandled);

  for (const t of tracks.values()) classify(t);
  // The heap after GC without what this harness keeps (sessions, records, what the emulators received).
  const accepted = acceptedCount - acceptedAfterDrain;
  const openSessions = [...tracks.values()].filter((t) => !t.closed).length;
  tracks.clear();
  records.length = 0;
  forgetEmulatorRecords();
  const heapAfter = heapAfterGc();
  return {
    placed: o.calls + nextCall - (o.calls + (o.probes ?? 3)),
    accepted,
    refusedBeforeDrain,
    probes: o.probes ?? 3,
    acceptedAfterDrain,
    records: recordCount,
    endings,
    duplicateRecords,
    fatal,
    ...tally,
    details,
    interruptions,
    heardInHistory,
    ...report,
    faults: faultCount,
    unhandled,
    openSessions,
    resources: { before: resourcesBefore, after, leaked: leakedOf(after) },
    heapMB: { before: heapBefore, atDrain: heapAtDrain, after: heapAfter },
    wallSeconds: (performance.now() - t0) / 1000,
    load,
    latency: { clean: percentiles(clean), faulted: percentiles(faulted), slow: slowTurns },
    heapSamples,
    ...(o.durationMs ? { durationMs: o.durationMs } : {}),
    faultsOn,
  };
}

/** The heap samples compared: the one at minute 2 (or the first, in a shorter run) and the last. */
export function heapGrowth(r: ChaosReport): { from: { minute: number; mb: number }; to: { minute: number; mb: number }; mb: number } | undefined {
  const h = r.heapSamples;
  if (h.length < 2) return undefined;
  const from = h.find((x) => x.minute >= 1.9) ?? h[0]!;
  const to = h[h.length - 1]!;
  return from === to ? undefined : { from, to, mb: to.mb - from.mb };
}

/** The targets of the chaos soak, each PASS or FAIL (`baseline`: the same load without faults). */
export function chaosTargets(r: ChaosReport, baseline?: ChaosReport): string[] {
  const mark = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const leaked = Object.keys(r.resources.leaked).length;
  const out = [
    `${mark(r.lost === 0)}  0 lost turns (${r.lost})`,
    `${mark(r.answeredTwice === 0)}  0 answered twice (${r.answeredTwice})`,
    `${mark(r.unhandled === 0 && r.untypedErrors === 0)}  0 crashes / unhandled rejections (${r.unhandled} unhandled, ${r.untypedErrors} untyped errors)`,
    `${mark(leaked === 0 && r.openSessions === 0)}  resources back to before (${JSON.stringify(r.resources.leaked)}, ${r.openSessions} sessions open)`,
    `${mark(r.records === r.accepted && r.duplicateRecords === 0)}  one record per call (${r.records} records, ${r.accepted} calls, ${r.duplicateRecords} duplicates)`,
    `${mark(r.acceptedAfterDrain === 0)}  no call accepted after the drain (${r.acceptedAfterDrain} of ${r.probes})`,
  ];
  const g = heapGrowth(r);
  if (r.durationMs !== undefined)
    out.push(g ? `${mark(Math.abs(g.mb) <= 5)}  heap within 5 MB from minute ${g.from.minute.toFixed(1)} to ${g.to.minute.toFixed(1)} (${g.from.mb.toFixed(1)} -> ${g.to.mb.toFixed(1)} MB, ${g.mb >= 0 ? '+' : ''}${g.mb.toFixed(1)})` : `n/a   heap: fewer than two samples a minute apart (run for 2 minutes or more)`);
  if (baseline) {
    const d = r.latency.clean.p99 - baseline.latency.clean.p99;
    out.push(r.latency.clean.count && baseline.latency.clean.count
      ? `${mark(d <= 50)}  p99 of the calm calls' turns within 50 ms of the baseline's (${r.latency.clean.p99.toFixed(0)} vs ${baseline.latency.clean.p99.toFixed(0)} ms, ${d >= 0 ? '+' : ''}${d.toFixed(0)})`
      : 'FAIL  p99 vs baseline: no calm call turns measured');
  }
  return out;
}

/** The report as the lines of a table (`baseline`: the same load without faults, compared). */
export function chaosTable(r: ChaosReport, baseline?: ChaosReport): string[] {
  const faults = Object.entries(r.faults).map(([p, k]) => `${p} ${Object.values(k).reduce((a, b) => a + b, 0)}`).join(', ');
  const kinds: Record<string, number> = {};
  for (const k of Object.values(r.faults)) for (const [kind, n] of Object.entries(k)) kinds[kind] = (kinds[kind] ?? 0) + n;
  const row = (a: string, b: string | number) => `   ${a.padEnd(34)} ${b}`;
  const lat = (p: Percentiles) => (p.count ? `p50 ${p.p50.toFixed(0)}  p99 ${p.p99.toFixed(0)} ms  (n=${p.count})` : 'none');
  return [
    row('calls placed / accepted', `${r.placed} / ${r.accepted} (refused before the drain: ${r.refusedBeforeDrain})`),
    row('calls tried after the drain / taken', `${r.probes} / ${r.acceptedAfterDrain}`),
    row('records / duplicates', `${r.records} / ${r.duplicateRecords}  (${Object.entries(r.endings).map(([k, v]) => `${k} ${v}`).join(', ')})`),
    ...Object.entries(r.fatal).map(([e, n]) => row(n > 1 ? `  ended by (${n})` : '  ended by', e)),
    row('user turns finalised', r.userTurns),
    row('  answered', r.answered),
    row('  apology + typed error', r.apologised),
    row('  typed error, nothing spoken', r.errorOnly),
    row('  cut by the call ending', r.cutByCallEnd),
    row('  superseded (spoke again first)', r.superseded),
    row('  lost (dropped silently)', r.lost),
    row('  answered twice', r.answeredTwice),
    row('  answered without a turn event', r.answeredWithoutTurnEvent),
    ...r.details.map((d) => row('    ', d)),
    row('barge-ins / heard text in history', `${r.interruptions} / ${r.heardInHistory}`),
    row('error events typed / untyped', `${r.typedErrors} / ${r.untypedErrors}`),
    row('faults injected', `${faults}`),
    row('  by kind', Object.entries(kinds).map(([k, v]) => `${k} ${v}`).join(', ')),
    row('unhandled rejections / exceptions', r.unhandled),
    row('sessions not closed after the drain', r.openSessions),
    row('resources left over', JSON.stringify(r.resources.leaked)),
    row('heap after GC, MB', `${r.heapMB.before.toFixed(1)} before, ${r.heapMB.after.toFixed(1)} after (${(r.heapMB.after - r.heapMB.before).toFixed(1)})`),
    row('voice-to-voice, calm calls', lat(r.latency.clean)),
    row('voice-to-voice, calls under faults', lat(r.latency.faulted)),
    ...(baseline ? [row('baseline (no faults): calm calls', lat(baseline.latency.clean)), row('baseline (no faults): the others', lat(baseline.latency.faulted))] : []),
    ...r.latency.slow.map((l) => row('  slower than 3 s', l)),
    ...(r.heapSamples.length ? [row('heap after GC under load, MB', r.heapSamples.map((h) => `${h.minute.toFixed(1)} min ${h.mb.toFixed(1)}`).join(', '))] : []),
    row('load on the server process', `CPU ${r.load.cpuPercent.toFixed(0)} % of a core, event loop delay p50 ${r.load.loopDelayMs.p50.toFixed(1)} p99 ${r.load.loopDelayMs.p99.toFixed(1)} ms${baseline ? ` (baseline: ${baseline.load.cpuPercent.toFixed(0)} %, p99 ${baseline.load.loopDelayMs.p99.toFixed(1)} ms)` : ''}`),
    row('wall time', `${r.wallSeconds.toFixed(1)} s`),
    ...chaosTargets(r, baseline).map((t) => `   ${t}`),
  ];
}
