// Bench 4b to 4e: where a session's CPU goes. 4b splits voxline's CPU per call into a fixed part
// (connections, turns) and a part per second of line time; 4c measures the STT audio path alone
// (one socket message per 20 ms frame against quiet audio and speech batched,
// WsSttOptions.quietChunkMs and speechChunkMs); 4d an LLM request through OpenAiLlm's direct
// transport against the `openai` package; 4e what the machine charges for a wake-up and a send.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import WebSocket from 'ws';
import { DeepgramStt, OpenAiLlm, type AudioFrame } from '../src/index';
import { DeepgramEmulator } from '../src/testing/index';
import type { CallerLine } from '../src/testing/index';
import { measurePasses, runSessions, type Urls } from './lib';

type Log = (s: string) => void;
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

/**
 * 4b. The 2-turn call of bench 4 with a 150 ms and a 6 s pause between its turns (10 sessions):
 * after a warm pass of each, three measured passes of each in a row (measurePasses), medians.
 */
export async function costSplit(urls: Urls, log: Log, quick: boolean): Promise<Record<string, number>> {
  const script = (pauseMs: number): CallerLine[] => [{ text: 'check my order please' }, { text: 'check my order please', cue: { after: 'agent_done', pauseMs } }];
  const short = script(150);
  const long = script(6000);
  const passes = quick ? 1 : 3;
  await runSessions(urls, 10, short);
  const as = await measurePasses(urls, 10, short, passes);
  await runSessions(urls, 10, long);
  const bs = await measurePasses(urls, 10, long, passes);
  const a = { ms: median(as.map((x) => x.voxlineMs)), seconds: median(as.map((x) => x.seconds)) };
  const b = { ms: median(bs.map((x) => x.voxlineMs)), seconds: median(bs.map((x) => x.seconds)) };
  const perSecond = (b.ms - a.ms) / (b.seconds - a.seconds);
  const fixed = a.ms - perSecond * a.seconds;
  const pct = (ms: number, s: number) => ((100 * ms) / (s * 1000)).toFixed(2);
  log(`\n4b. voxline's CPU per call, split (10 sessions; the call of bench 4, then with 6 s more of quiet line between its turns; medians of ${passes})`);
  log(`   ${a.seconds.toFixed(1)} s call    ${a.ms.toFixed(1)} ms CPU = ${pct(a.ms, a.seconds)} % of a core per session   [${as.map((x) => x.voxlineMs.toFixed(1)).join(' ')}]`);
  log(`   ${b.seconds.toFixed(1)} s call   ${b.ms.toFixed(1)} ms CPU = ${pct(b.ms, b.seconds)} % of a core per session   [${bs.map((x) => x.voxlineMs.toFixed(1)).join(' ')}]`);
  log(`   each second of quiet line     ${(perSecond / 10).toFixed(2)} % of a core`);
  log(`   the rest (connections, turns) ${fixed.toFixed(1)} ms CPU per call`);
  return { shortCallSeconds: a.seconds, shortCallMs: a.ms, longCallSeconds: b.seconds, longCallMs: b.ms, quietLinePercentOfCore: perSecond / 10, fixedMsPerCall: fixed };
}

/** A caller: 1 s of sound then 3 s of silence (while the agent talks), paced at real time. */
async function* talkPattern(seconds: number, offsetMs: number): AsyncGenerator<AudioFrame> {
  const quiet = { samples: new Int16Array(320), sampleRate: 16000 };
  const loud = { samples: Int16Array.from({ length: 320 }, (_, i) => Math.round(6000 * Math.sin(i / 5))), sampleRate: 16000 };
  const t0 = performance.now() + offsetMs;
  for (let i = 0; i < seconds * 50; i++) {
    const wait = t0 + i * 20 - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    yield i % 200 < 50 ? loud : quiet;
  }
}

/** 4c. The STT audio path alone: 20 streams of 20 s, frame by frame against batching quiet audio, and quiet audio and speech (the default); rounds alternate. */
export async function sttAudioPath(urls: Urls, log: Log, quick: boolean): Promise<Record<string, number>> {
  const n = 20;
  const seconds = quick ? 8 : 20;
  type Chunks = { quietChunkMs?: number; speechChunkMs?: number };
  const streams = (opts?: Chunks) =>
    Promise.all(Array.from({ length: n }, async (_, k) => {
      const audio = talkPattern(seconds, k * 7);
      if (!opts) for await (const _f of audio); // the callers alone
      else for await (const _e of new DeepgramStt({ apiKey: 'bench', baseURL: urls.listen, ...opts }).transcribe(audio));
    }));
  const once = async (opts?: Chunks) => {
    const c0 = process.cpuUsage();
    await streams(opts);
    return cpuMs(process.cpuUsage(c0)) / n / (seconds / 60);
  };
  // Messages per minute, counted by an in-process emulator (not timed).
  const count = async (opts: Chunks) => {
    const dg = new DeepgramEmulator();
    await dg.start();
    for await (const _e of new DeepgramStt({ apiKey: 'bench', baseURL: dg.baseURL, ...opts }).transcribe(talkPattern(8, 0)));
    await dg.close();
    return (dg.record.audioMessages * 60) / 8;
  };
  const modes: [string, Chunks][] = [
    ['one message per 20 ms frame', { quietChunkMs: 0, speechChunkMs: 0 }],
    ['quiet audio in 200 ms chunks', { speechChunkMs: 0 }],
    ['and speech in 100 ms (default)', {}],
  ];
  // The callers alone, then each mode, in rounds (the machine's speed drifts over minutes): a warm
  // round, then medians of each mode's CPU less the callers' of the same round.
  for (const opts of [undefined, ...modes.map(([, o]) => o)]) await streams(opts);
  const rounds = quick ? 1 : 3;
  const per: number[][] = modes.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const bare = await once();
    for (let i = 0; i < modes.length; i++) per[i]!.push((await once(modes[i]![1])) - bare);
  }
  const cpu = per.map(median);
  const msgs: number[] = [];
  for (const [, opts] of modes) msgs.push(await count(opts));
  log(`\n4c. STT audio path alone (${n} streams, 1 s of sound then 3 s of silence, ${seconds} s; callers' CPU taken out; medians of ${rounds} alternating rounds)`);
  modes.forEach(([label], i) => {
    const ratio = i ? `   ${(cpu[0]! / cpu[i]!).toFixed(2)}x less CPU` : '';
    log(`   ${label.padEnd(30)}  ${msgs[i]!.toFixed(0)} messages/min   ${cpu[i]!.toFixed(1)} ms CPU per stream-minute (${(cpu[i]! / 600).toFixed(3)} % of a core)${ratio}   [${per[i]!.map((x) => x.toFixed(1)).join(' ')}]`);
  });
  return {
    streams: n,
    seconds,
    frameByFrameMsPerStreamMinute: cpu[0]!,
    quietBatchedMsPerStreamMinute: cpu[1]!,
    batchedMsPerStreamMinute: cpu[2]!,
    frameByFrameMessagesPerMinute: msgs[0]!,
    quietBatchedMessagesPerMinute: msgs[1]!,
    batchedMessagesPerMinute: msgs[2]!,
  };
}

/**
 * 4d. One LLM request's CPU in this process (the emulator runs in its own): OpenAiLlm with `apiKey`
 * (its direct transport) against OpenAiLlm with a ready `openai` client, at the bench's 320 ms to
 * the first token and 60 tokens/s, 50 at a time; rounds alternate, medians.
 */
export async function llmRequest(urls: Urls, log: Log, quick: boolean): Promise<Record<string, number>> {
  const direct = new OpenAiLlm({ apiKey: 'bench', baseURL: urls.llm, model: 'bench', maxRetries: 0 });
  const sdk = new OpenAiLlm({ client: new OpenAI({ apiKey: 'bench', baseURL: urls.llm, maxRetries: 0 }), model: 'bench' });
  const n = quick ? 100 : 300;
  const round = async (llm: OpenAiLlm) => {
    const c0 = process.cpuUsage();
    await Promise.all(Array.from({ length: 50 }, async () => {
      for (let i = 0; i < n / 50; i++) for await (const _e of llm.respond([{ role: 'user', content: 'check my order please' }]));
    }));
    return (cpuMs(process.cpuUsage(c0)) * 1000) / n;
  };
  await round(direct);
  await round(sdk);
  const d: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < 3; i++) {
    d.push(await round(direct));
    s.push(await round(sdk));
  }
  log(`\n4d. One LLM request's CPU (${n} requests a round, 50 at a time, 320 ms to the first token, 60 tokens/s; medians of 3 alternating rounds)`);
  log(`   OpenAiLlm, direct (apiKey)     ${median(d).toFixed(0)} us per request   [${d.map((x) => x.toFixed(0)).join(' ')}]`);
  log(`   OpenAiLlm, openai client       ${median(s).toFixed(0)} us per request   [${s.map((x) => x.toFixed(0)).join(' ')}]   ${(median(s) / median(d)).toFixed(2)}x the direct transport`);
  return { requestsPerRound: n, directMicrosPerRequest: median(d), packageMicrosPerRequest: median(s) };
}

/**
 * 4e. What this machine charges for an event, to read the per-session figures against: 10
 * WebSocket clients in this process, each woken by a timer every 20 ms for 5 s, with nothing to do
 * and then sending a 640-byte frame each time to a server in another process that drops it
 * (rounds alternate, medians of 3). No voxline code runs.
 */
export async function machineFloor(log: Log, quick: boolean): Promise<Record<string, number>> {
  const server = spawn(process.execPath, ['-e', "const { WebSocketServer } = require('ws'); const s = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log(s.address().port)); s.on('connection', (ws) => ws.on('message', () => {})); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));"], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((r) => createInterface({ input: server.stdout! }).once('line', r)));
  const n = 10;
  const seconds = quick ? 2 : 5;
  const ticks = seconds * 50;
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  const frame = Buffer.alloc(640);
  // Each socket on its own 20 ms schedule, 2 ms apart, so that the timers do not share wake-ups.
  const round = async (send: boolean) => {
    const c0 = process.cpuUsage();
    await Promise.all(sockets.map((ws, k) => new Promise<void>((done) => {
      const start = performance.now() + k * 2;
      let i = 0;
      const tick = () => {
        if (send) ws.send(frame, { binary: true, compress: false });
        if (++i >= ticks) return done();
        setTimeout(tick, Math.max(0, start + i * 20 - performance.now()));
      };
      setTimeout(tick, k * 2);
    })));
    return (cpuMs(process.cpuUsage(c0)) * 1000) / (n * ticks);
  };
  await round(false);
  await round(true);
  const idle: number[] = [];
  const sends: number[] = [];
  for (let i = 0; i < 3; i++) {
    idle.push(await round(false));
    sends.push(await round(true));
  }
  for (const ws of sockets) ws.close();
  server.stdin!.end();
  const wake = median(idle);
  const send = median(sends) - wake;
  log(`\n4e. What this machine charges for an event (no voxline code: ${n} sockets, each woken every 20 ms for ${seconds} s; medians of 3 alternating rounds)`);
  log(`   a timer wake-up              ${wake.toFixed(1)} us of CPU   [${idle.map((x) => x.toFixed(1)).join(' ')}]`);
  log(`   a loopback WebSocket send    ${send.toFixed(1)} us more   [${sends.map((x) => x.toFixed(1)).join(' ')} with it]`);
  return { sockets: n, seconds, microsPerWakeup: wake, microsPerSend: send };
}
