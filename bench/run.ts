// npm run bench: voxline's latency, overhead, concurrency, barge-in and audio throughput against
// the voxline/testing emulators at the reference budget (140 ms STT final, 320 ms LLM first
// token, 180 ms TTS first audio). The emulators run in a child process so CPU and memory figures
// are voxline's own. Writes bench/results/latest.json and bench/results/chart.svg.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { ElevenLabsTts, OpenAiLlm, DeepgramStt, Resampler, SentenceChunker, decodeMulaw, encodeMulaw, floatToInt16, frameFromBytes, frameToBytes, int16ToFloat, textOf, type Percentiles } from '../src/index';
import { percentiles } from '../src/session/metrics';
import { type CallerLine } from '../src/testing/index';
import { VoiceSession, espeakSynthesizer, sileroVad, toneSynthesizer, type AudioFrame } from '../src/index';
import type { AudioOutput } from '../src/adapters/index';
import { costSplit, llmRequest, machineFloor, sttAudioPath } from './cost';
import { measurePasses, runSessions, startEmulators, type RunOptions, type Urls } from './lib';

const PROVIDER_MS = 140 + 320 + 180;
const quick = process.argv.includes('--quick');
const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, memoryGiB: Math.round(os.totalmem() / 2 ** 30) }, date: new Date().toISOString() };
const rows: string[] = [];
const pct = (p: Percentiles) => `p50 ${p.p50.toFixed(1)}  p95 ${p.p95.toFixed(1)}  p99 ${p.p99.toFixed(1)}  (n=${p.count})`;
const log = (s: string) => { rows.push(s); console.log(s); };

const short: CallerLine[] = Array.from({ length: quick ? 3 : 10 }, () => ({ text: 'check my order please', cue: { after: 'agent_done', pauseMs: 150 } }));

async function latency(urls: Urls) {
  // 1. Voice-to-voice over many turns: 10 sessions at once, 10 turns each.
  const r = await runSessions(urls, 10, short);
  const v2v = percentiles(r.turns.map((t) => t.v2v));
  const over = percentiles(r.turns.map((t) => t.latency.overhead));
  const clause = percentiles(r.turns.map((t) => t.latency.firstClause));
  const providers = percentiles(r.turns.map((t) => t.latency.stt + t.latency.llmTtft + t.latency.tts));
  const pipeline = percentiles(r.turns.map((t) => t.v2v - PROVIDER_MS));
  const framing = percentiles(r.turns.map((t) => t.v2v - t.latency.voiceToVoice));
  results.latency = { v2v, pipelineOverhead: pipeline, inputFraming: framing, overhead: over, firstClause: clause, providerMeasured: providers, providerBudgetMs: PROVIDER_MS, raw: r.turns };
  log(`\n1. Voice-to-voice (${r.turns.length} turns, 10 sessions at once; provider budget ${PROVIDER_MS} ms)`);
  log(`   voice-to-voice           ${pct(v2v)}   (the caller's end of speech -> first agent audio written)`);
  log(`   pipeline overhead        ${pct(pipeline)}   (voice-to-voice - ${PROVIDER_MS} ms budget)`);
  log(`     input framing          ${pct(framing)}   (caller's end of speech -> the session's, from the STT's word times)`);
  log(`     first-clause wait      ${pct(clause)}   (first token -> first text to TTS)`);
  log(`     voxline's own time     ${pct(over)}   (voice-to-voice - the providers' measured critical path)`);
  log(`   providers as measured    ${pct(providers)}`);
  for (const k of ['stt', 'llmTtft', 'tts'] as const) log(`     ${k.padEnd(22)} ${pct(percentiles(r.turns.map((t) => t.latency[k])))}`);
}

async function realtimeLatency(urls: Urls) {
  // 1b. The same callers, turns and budget with a speech-to-speech model as the brain: its turn
  // detection waits 140 ms of silence (the STT's endpointing in 1), then 500 ms to its first audio
  // (the LLM's 320 ms first token + the TTS's 180 ms first audio in 1).
  const r = await runSessions(urls, 10, short, { realtime: true });
  const v2v = percentiles(r.turns.map((t) => t.v2v));
  const over = percentiles(r.turns.map((t) => t.latency.overhead));
  results.realtime = { v2v, overhead: over, providerBudgetMs: PROVIDER_MS, raw: r.turns };
  log(`\n1b. Voice-to-voice with a realtime model (${r.turns.length} turns, 10 sessions at once; same budget ${PROVIDER_MS} ms: 140 turn end + 500 first audio)`);
  log(`   voice-to-voice           ${pct(v2v)}`);
  log(`   minus provider budget    p50 ${(v2v.p50 - PROVIDER_MS).toFixed(1)}  p95 ${(v2v.p95 - PROVIDER_MS).toFixed(1)}  p99 ${(v2v.p99 - PROVIDER_MS).toFixed(1)}`);
  log(`     turn end               ${pct(percentiles(r.turns.map((t) => t.latency.stt)))}`);
  log(`     model to first audio   ${pct(percentiles(r.turns.map((t) => t.latency.llmTtft)))}`);
  log(`   voxline overhead         ${pct(over)}`);
}

async function streamingVsNaive(urls: Urls) {
  // 2. The same replies through voxline's streaming path and through a naive pipeline that waits for
  // the whole LLM reply before calling TTS. Measured from the LLM request to the first audio.
  const llm = new OpenAiLlm({ apiKey: 'bench', baseURL: urls.llm, model: 'bench', maxRetries: 0 });
  const tts = new ElevenLabsTts({ apiKey: 'bench', voiceId: 'bench', baseURL: urls.tts, outputFormat: 'pcm_16000' });
  await tts.warmup();
  const history = [{ role: 'user' as const, content: 'tell me a story' }];
  const streaming: number[] = [];
  const naive: number[] = [];
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    let t0 = performance.now();
    const chunker = new SentenceChunker();
    const chunks = (async function* () { for await (const d of textOf(llm.respond(history))) yield* chunker.push(d); yield* chunker.flush(); })();
    for await (const _ of tts.synthesize(chunks)) { streaming.push(performance.now() - t0); break; }
    t0 = performance.now();
    let full = '';
    for await (const d of textOf(llm.respond(history))) full += d;
    for await (const _ of tts.synthesize((async function* () { yield full; })())) { naive.push(performance.now() - t0); break; }
  }
  await tts.close();
  const s = percentiles(streaming);
  const n = percentiles(naive);
  results.streaming = { streaming: s, naive: n, ratio: (n.p50 + 140) / (s.p50 + 140) };
  log(`\n2. Streaming vs waiting for the whole reply (LLM request -> first audio; 4-sentence reply)`);
  log(`   streaming                ${pct(s)}`);
  log(`   naive                    ${pct(n)}`);
  log(`   voice-to-voice ratio     naive / streaming = ${((n.p50 + 140) / (s.p50 + 140)).toFixed(2)}x`);
}

async function warmVsCold() {
  // 3. Connections warm vs opened per turn, against emulators with a 100 ms handshake.
  const emu = await startEmulators({ handshakeDelayMs: 100 });
  const urls = emu.urls;
  const once = async (tts: ElevenLabsTts) => {
    const t0 = performance.now();
    for await (const _ of tts.synthesize((async function* () { yield 'Sure, that is done.'; })())) return performance.now() - t0;
    return NaN;
  };
  const warm: number[] = [];
  const cold: number[] = [];
  const pooled = new ElevenLabsTts({ apiKey: 'bench', voiceId: 'bench', baseURL: urls.tts, outputFormat: 'pcm_16000' });
  await pooled.warmup();
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    warm.push(await once(pooled));
    await new Promise((r) => setTimeout(r, 150)); // the next socket warms between turns
    const fresh = new ElevenLabsTts({ apiKey: 'bench', voiceId: 'bench', baseURL: urls.tts, outputFormat: 'pcm_16000' });
    cold.push(await once(fresh));
    await fresh.close();
  }
  await pooled.close();
  // STT: a transcription opened at the start of the utterance vs one already open.
  const { toneSynthesizer } = await import('../src/index');
  const tone = await toneSynthesizer({ sampleRate: 16000 })('x'.repeat(12));
  const sttRun = async (openEarlyMs: number) => {
    const stt = new DeepgramStt({ apiKey: 'bench', baseURL: urls.listen });
    let speechEnd = 0;
    const frames = async function* () {
      const silence = new Int16Array(320);
      const start = performance.now();
      let k = 0;
      const tick = async () => { const w = start + k++ * 20 - performance.now(); if (w > 1) await new Promise((r) => setTimeout(r, w)); };
      for (let t = 0; t < openEarlyMs; t += 20) { await tick(); yield { samples: silence, sampleRate: 16000 }; }
      for (let o = 0; o < tone.samples.length; o += 320) { await tick(); const s = new Int16Array(320); s.set(tone.samples.subarray(o, o + 320)); yield { samples: s, sampleRate: 16000 }; }
      speechEnd = performance.now();
      for (let t = 0; t < 600; t += 20) { await tick(); yield { samples: silence, sampleRate: 16000 }; }
    };
    for await (const ev of stt.transcribe(frames())) if (ev.type === 'final') return performance.now() - speechEnd;
    return NaN;
  };
  const sttWarm: number[] = [];
  const sttCold: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    sttWarm.push(await sttRun(400));
    sttCold.push(await sttRun(0));
  }
  await emu.stop();
  const w = percentiles(warm), c = percentiles(cold), sw = percentiles(sttWarm), sc = percentiles(sttCold);
  results.warm = { ttsWarm: w, ttsCold: c, ttsRatio: c.p50 / w.p50, sttWarm: sw, sttCold: sc, handshakeDelayMs: 100 };
  log(`\n3. Warm vs cold connections (100 ms handshake)`);
  log(`   TTS first audio, warm    ${pct(w)}`);
  log(`   TTS first audio, cold    ${pct(c)}   ratio cold/warm ${(c.p50 / w.p50).toFixed(2)}x`);
  log(`   STT final, already open  ${pct(sw)}`);
  log(`   STT final, opened at speech start ${pct(sc)}   (audio sent during the handshake is replayed at once)`);
}

async function concurrency(urls: Urls) {
  // 4. Many sessions in one process, each fed real-time audio. The process also runs the callers
  // (scripted microphones and virtual speakers): their CPU, measured by replaying each session's
  // timeline without voxline (runCallersOnly), is taken out to give voxline's own share. The
  // process first serves a few passes of 10 sessions, as any server that has been up for a while
  // has: V8 keeps compiling for about the first 60 calls (`--trace-opt`: 514 ms of compile time in
  // the first pass of 10 sessions, 142 in the third, about 10 to 40 from the seventh), and that
  // warm-up is reported, not counted per session. Each level then runs once unmeasured (its
  // connection pools) and five measured passes in a row (measurePasses; `--passes N` for another
  // number); the table gives their medians (CPU on this shared machine varies by a third from one
  // pass to the next), the JSON every pass.
  const levels = arg('--levels')?.map(Number) ?? (quick ? [1, 10] : [1, 10, 50, 100, 200]);
  const passes = Number(arg('--passes')?.[0] ?? (quick ? 1 : 5));
  const out: Record<string, unknown>[] = [];
  log(`\n4. Concurrency (one Node process, warmed up; 2 caller turns per session; at each level a warm pass, then medians of ${passes} passes; CPU in % of a core per session)`);
  log(`   sessions  v2v p50  v2v p99  providers p99  overhead p50  overhead p99  CPU total  callers  voxline  RSS MB per session   voxline per pass`);
  const lines: CallerLine[] = [{ text: 'check my order please' }, { text: 'check my order please', cue: { after: 'agent_done', pauseMs: 150 } }];
  const cpuPercent = (cpu: NodeJS.CpuUsage, seconds: number) => (100 * (cpu.user + cpu.system)) / 1000 / (seconds * 1000);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const warm: number[] = [];
  for (let p = 0; p < (quick ? 2 : 6); p++) {
    const cpu0 = process.cpuUsage();
    const r = await runSessions(urls, 10, lines);
    warm.push(cpuPercent(process.cpuUsage(cpu0), r.audioSeconds));
  }
  log(`   warm-up: 10 sessions, ${warm.length} passes, CPU total per session in each: ${warm.map((x) => x.toFixed(2)).join(', ')} % of a core`);
  results.concurrencyWarmup = warm;
  for (const n of levels) {
    await runSessions(urls, n, lines);
    const runs = await measurePasses(urls, n, lines, passes);
    const turns = runs.flatMap((r) => r.turns);
    const v2v = percentiles(turns.map((t) => t.v2v));
    const over = percentiles(turns.map((t) => t.latency.overhead));
    const prov = percentiles(turns.map((t) => t.latency.stt + t.latency.llmTtft + t.latency.tts));
    const own = runs.map((r) => r.voxline);
    const [cpuPct, callersPct, ownPct, rssPer] = [median(runs.map((r) => r.total)), median(runs.map((r) => r.callers)), median(own), median(runs.map((r) => r.rssMB))];
    out.push({ sessions: n, turns: turns.length, v2v, providers: prov, overhead: over, cpuPercentPerSession: cpuPct, callersCpuPercentPerSession: callersPct, voxlineCpuPercentPerSession: ownPct, voxlineCpuPercentPerPass: own, rssMBPerSession: rssPer });
    log(`   ${String(n).padStart(8)}  ${v2v.p50.toFixed(0).padStart(7)}  ${v2v.p99.toFixed(0).padStart(7)}  ${prov.p99.toFixed(0).padStart(13)}  ${over.p50.toFixed(1).padStart(12)}  ${over.p99.toFixed(1).padStart(12)}  ${cpuPct.toFixed(2).padStart(9)}  ${callersPct.toFixed(2).padStart(7)}  ${ownPct.toFixed(2).padStart(7)}  ${rssPer.toFixed(2).padStart(18)}   ${own.map((x) => x.toFixed(2)).join(' ')}`);
  }
  results.concurrency = out;
}

async function bargeIn(urls: Urls) {
  // 5. Barge-in on the STT's words, with a TTS that sends alignment (ElevenLabs) and one that does
  // not (Aura): the interrupting speech's onset and the STT event -> output.clear(), agent audio
  // written after the onset, what was recorded as heard against what was played, and the
  // voice-to-voice of the reply to the interruption.
  const lines: CallerLine[] = [{ text: 'tell me a story' }, { text: 'stop right there please', cue: { after: 'agent_speaking', delayMs: 900 } }];
  results.bargeIn = {};
  for (const tts of ['elevenlabs', 'aura'] as const) {
    const r = await runSessions(urls, quick ? 3 : 20, lines, { tts, spy: true });
    const of = (f: (b: (typeof r.barges)[number]) => number) => percentiles(r.barges.map(f));
    const row = {
      onsetToClear: of((b) => b.fromSpeech),
      eventToClear: of((b) => b.toClear),
      eventToLastFrame: of((b) => b.toLastFrame),
      audioAfterOnsetMs: of((b) => b.audioAfterOnset),
      heardErrorChars: of((b) => Math.abs(b.heardError)),
      heardErrorSigned: of((b) => b.heardError),
      interruptionV2v: percentiles(r.turns.filter((t) => t.line === 1).map((t) => t.v2v)),
    };
    (results.bargeIn as Record<string, unknown>)[tts] = row;
    log(`\n5. Barge-in, ${tts === 'aura' ? 'Deepgram Aura (no alignment)' : 'ElevenLabs (alignment)'} (${r.barges.length} interruptions, on the STT's words)`);
    log(`   onset -> output.clear()     ${pct(row.onsetToClear)}`);
    log(`   STT event -> clear()        ${pct(row.eventToClear)}`);
    log(`   STT event -> last frame     ${pct(row.eventToLastFrame)}`);
    log(`   agent audio after onset ms  ${pct(row.audioAfterOnsetMs)}`);
    log(`   heard text error, chars     ${pct(row.heardErrorChars)}   (recorded - played: p50 ${row.heardErrorSigned.p50.toFixed(0)}, min ${row.heardErrorSigned.min.toFixed(0)}, max ${row.heardErrorSigned.max.toFixed(0)})`);
    log(`   interruption voice-to-voice ${pct(row.interruptionV2v)}`);
  }
}

async function preemption(urls: Urls) {
  // 1c. Preemptive replies: the same turns with Deepgram live (no early signal), with Flux without
  // and with an eager end of turn (the reply starts 60 ms after speech, the turn is confirmed at
  // 140 ms), and with preemption turned off.
  const runs: [string, RunOptions][] = [
    ['Deepgram live', {}],
    ['Flux, no eager', { flux: {} }],
    ['Flux, eager 0.3', { flux: { eagerEotThreshold: 0.3 } }],
    ['Flux, eager 0.3, off', { flux: { eagerEotThreshold: 0.3 }, noPreemption: true }],
  ];
  const out: Record<string, unknown> = {};
  log(`\n1c. Preemptive replies (10 sessions x ${short.length} turns; provider budget ${PROVIDER_MS} ms)`);
  log(`   STT                    v2v p50  v2v p95  v2v p99  turn end -> audio p50  head start p50  hits/turns  wasted tokens/chars per turn`);
  for (const [name, o] of runs) {
    const r = await runSessions(urls, 10, short, o);
    const v2v = percentiles(r.turns.map((t) => t.v2v));
    const after = percentiles(r.turns.map((t) => t.latency.voiceToVoice - t.latency.stt));
    const head = percentiles(r.turns.map((t) => t.latency.headStart));
    const hits = r.turns.filter((t) => t.preemption?.hit).length;
    const wastedTokens = r.turns.reduce((n, t) => n + (t.preemption?.wastedTokens ?? 0), 0) / Math.max(1, r.turns.length);
    const wastedChars = r.turns.reduce((n, t) => n + (t.preemption?.wastedChars ?? 0), 0) / Math.max(1, r.turns.length);
    out[name] = { v2v, turnEndToAudio: after, headStart: head, hits, turns: r.turns.length, wastedTokensPerTurn: wastedTokens, wastedCharsPerTurn: wastedChars };
    log(`   ${name.padEnd(22)} ${v2v.p50.toFixed(1).padStart(7)}  ${v2v.p95.toFixed(1).padStart(7)}  ${v2v.p99.toFixed(1).padStart(7)}  ${after.p50.toFixed(1).padStart(21)}  ${head.p50.toFixed(1).padStart(14)}  ${`${hits}/${r.turns.length}`.padStart(10)}  ${wastedTokens.toFixed(1)} / ${wastedChars.toFixed(1)}`);
  }
  results.preemption = out;
}

async function vadCpu(urls: Urls) {
  // 5c. CPU per session without and with a local Silero VAD (which runs on every 32 ms of input),
  // 10 sessions at once each, in the same run.
  const lines = short.slice(0, quick ? 2 : 5);
  const out: Record<string, number> = {};
  log(`\n5c. CPU per session, 10 sessions at once (${lines.length} caller turns each), without and with Silero VAD`);
  for (const vad of [false, true]) {
    globalThis.gc?.();
    const cpu0 = process.cpuUsage();
    const r = await runSessions(urls, 10, lines, vad ? { vad: () => sileroVad() } : {});
    const cpu = process.cpuUsage(cpu0);
    const pctCore = (100 * (cpu.user + cpu.system)) / 1000 / (r.audioSeconds * 1000);
    out[vad ? 'silero' : 'none'] = pctCore;
    log(`   ${vad ? 'Silero VAD' : 'no VAD    '}               ${pctCore.toFixed(2)} % of a core per session`);
  }
  log(`   VAD adds                 ${(out.silero! - out.none!).toFixed(2)} % of a core per session`);
  results.vadCpu = { ...out, added: out.silero! - out.none!, sessions: 10 };
}

async function localVad() {
  // 5b. Barge-in from the onset of the user's speech: on the STT's words (default), on the STT's
  // speech-started event, and on a local Silero VAD. The emulated provider reports speech 150 ms
  // after its onset, a typical figure for a hosted STT (network and processing).
  const emu = await startEmulators({ speechStartedDelayMs: 150 });
  const voice = await espeakSynthesizer();
  const lines: CallerLine[] = [{ text: 'tell me a story' }, { text: 'stop right there please', cue: { after: 'agent_speaking', delayMs: 900 } }];
  const n = quick ? 2 : 6;
  const words = await runSessions(emu.urls, n, lines, { synthesizer: voice });
  const started = await runSessions(emu.urls, n, lines, { synthesizer: voice, bargeOnSpeechStart: true });
  const silero = await runSessions(emu.urls, n, lines, { synthesizer: voice, vad: () => sileroVad() });
  await emu.stop();
  const of = (r: typeof words) => percentiles(r.barges.map((b) => b.fromSpeech));
  const w = of(words), s = of(started), v = of(silero);
  results.localVad = { words: w, providerSpeechStarted: s, sileroVad: v, ratioProviderToLocal: s.p50 / v.p50, providerSpeechStartedDelayMs: 150 };
  log(`\n5b. Barge-in from the onset of the interrupting speech to output.clear() (provider speech-started 150 ms after onset)`);
  log(`   on the STT's words (2)   ${pct(w)}`);
  log(`   on STT speech-started    ${pct(s)}`);
  log(`   on local Silero VAD      ${pct(v)}   ratio provider/local ${(s.p50 / v.p50).toFixed(2)}x`);
}

/** An output that plays instantly, for the soak test. */
class InstantOutput implements AudioOutput {
  readonly sampleRate = 16000;
  writtenMs = 0;
  get playedMs() { return this.writtenMs; }
  async write(f: AudioFrame) { this.writtenMs += (f.samples.length * 1000) / f.sampleRate; }
  clear() {}
  async drain() {}
  async close() {}
}

async function soak() {
  // 7. Many short sessions in a row: memory must stay flat.
  const emu = await startEmulators({ fast: true });
  const speech = await toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })('check my order please');
  const audio = new Int16Array(3200 + speech.samples.length + 8000);
  audio.set(speech.samples, 3200);
  const frames: AudioFrame[] = [];
  for (let i = 0; i < audio.length; i += 320) frames.push({ samples: audio.slice(i, i + 320), sampleRate: 16000 });
  const total = quick ? 200 : 1000;
  const heap: { sessions: number; heapMB: number; rssMB: number }[] = [];
  let done = 0;
  let turns = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  const one = async () => {
    const s = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'b', baseURL: emu.urls.listen }),
      llm: new OpenAiLlm({ apiKey: 'b', baseURL: emu.urls.llm, model: 'b' }),
      tts: new ElevenLabsTts({ apiKey: 'b', voiceId: 'b', baseURL: emu.urls.tts, outputFormat: 'pcm_16000' }),
    });
    s.on('turn', () => turns++);
    await s.run({ input: (async function* () { yield* frames; })(), output: new InstantOutput() });
  };
  while (done < total) {
    await Promise.all(Array.from({ length: 10 }, one));
    done += 10;
    if (done % 100 === 0) {
      globalThis.gc?.();
      const m = process.memoryUsage();
      heap.push({ sessions: done, heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 });
      cpu0 ??= process.cpuUsage();
    }
  }
  // CPU per call with little to wait for (the providers answer at once, the output plays
  // instantly; the audio is fed as fast as the session takes it, which is at most 1 s ahead of the
  // clock since sessions pace their input): the work of a call, with few of real time's wake-ups.
  const cpu = process.cpuUsage(cpu0);
  const msPerCall = (cpu.user + cpu.system) / 1000 / (total - heap[0]!.sessions);
  await emu.stop();
  const first = heap[0]!, last = heap[heap.length - 1]!;
  results.soak = { sessions: total, turns, heap, heapGrowthMB: last.heapMB - first.heapMB, gcExposed: typeof globalThis.gc === 'function', cpuMsPerCall: msPerCall };
  log(`\n7. Soak: ${total} short sessions in a row, 10 at a time (${turns} turns)`);
  log(`   heap after GC, MB        ${heap.map((h) => h.heapMB.toFixed(1)).join(' ')}`);
  log(`   growth first->last       ${(last.heapMB - first.heapMB).toFixed(2)} MB over ${total - first.sessions} sessions`);
  log(`   CPU per call             ${msPerCall.toFixed(2)} ms, after the first 100 (one turn; no waiting: the work of a call without real time's wake-ups)`);
}

async function serverLoad() {
  // 8. One voice-server worker process (as deployed) taking 50 concurrent browser calls.
  const { spawn } = await import('node:child_process');
  const { browserCall } = await import('../test/server/call-client');
  const emu = await startEmulators();
  const port = 18000 + Math.floor(Math.random() * 1000);
  const worker = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/server-worker.ts', String(port)], { env: { ...process.env, STT_URL: emu.urls.listen, LLM_URL: emu.urls.llm, TTS_URL: emu.urls.tts }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => worker.stdout!.once('data', () => r()));
  const cpu = async () => Number(/^process_cpu_seconds_total (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]);
  const n = quick ? 10 : 50;
  const cpu0 = await cpu();
  const t0 = performance.now();
  const calls = await Promise.all(Array.from({ length: n }, async (_, i) => { await new Promise((r) => setTimeout(r, i * 20)); return browserCall(`ws://127.0.0.1:${port}/browser`, 30_000); }));
  const wall = (performance.now() - t0) / 1000;
  const cpuUsed = (await cpu()) - cpu0;
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  await emu.stop();
  const v2v = percentiles(calls.flatMap((c) => (c.voiceToVoiceMs === undefined ? [] : [c.voiceToVoiceMs])));
  const ok = calls.filter((c) => c.transcript.length === 2).length;
  const coresBusy = cpuUsed / wall;
  results.server = { calls: n, answered: ok, v2v, workerCpuSeconds: cpuUsed, wallSeconds: wall, coresBusy, callsPerCore: n / coresBusy };
  log(`\n8. One voice-server worker, ${n} concurrent browser calls over WebSockets`);
  log(`   answered                 ${ok}/${n}`);
  log(`   voice-to-voice at the client ${pct(v2v)}`);
  log(`   worker CPU               ${(coresBusy * 100).toFixed(1)} % of a core for ${n} calls: about ${Math.round(n / coresBusy)} concurrent calls per core`);
}

function throughput() {
  // 6. Audio processing, in times real time on one core (60 s of audio each).
  const seconds = 60;
  const make = (rate: number) => Int16Array.from({ length: rate * seconds }, (_, i) => Math.round(8000 * Math.sin(i / 7)));
  const time = (f: () => void) => { const t = performance.now(); f(); return seconds / ((performance.now() - t) / 1000); };
  const frames = (x: Int16Array, n: number, f: (c: Int16Array) => void) => { for (let i = 0; i < x.length; i += n) f(x.subarray(i, i + n)); };
  const a48 = make(48000), a16 = make(16000), a8 = make(8000);
  const mu = encodeMulaw(a8);
  const figures = {
    resample48to16: time(() => { const r = new Resampler(48000, 16000); frames(a48, 960, (c) => r.process(c)); }),
    resample16to24: time(() => { const r = new Resampler(16000, 24000); frames(a16, 320, (c) => r.process(c)); }),
    mulawEncode8k: time(() => frames(a8, 160, (c) => encodeMulaw(c))),
    mulawDecode8k: time(() => frames(new Int16Array(mu.length), 160, (_c) => decodeMulaw(mu.subarray(0, 160)))),
    pcmBytesRoundTrip16k: time(() => frames(a16, 320, (c) => frameFromBytes(frameToBytes({ samples: c, sampleRate: 16000 }), 16000))),
    floatRoundTrip16k: time(() => frames(a16, 320, (c) => floatToInt16(int16ToFloat(c)))),
  };
  results.throughput = figures;
  log(`\n6. Audio throughput (times real time, one core)`);
  for (const [k, v] of Object.entries(figures)) log(`   ${k.padEnd(24)} ${Math.round(v).toLocaleString('en-US')}x`);
}

function chart(): string {
  const lat = results.latency as { raw: { v2v: number }[] };
  const xs = lat.raw.map((t) => t.v2v).sort((a, b) => a - b);
  const W = 640, H = 260, x0 = 50, y0 = 220;
  const lo = Math.floor(Math.min(PROVIDER_MS, xs[0]!) / 10) * 10 - 10, hi = Math.ceil(Math.max(...xs, 880) / 10) * 10;
  const X = (v: number) => x0 + ((v - lo) / (hi - lo)) * (W - x0 - 20);
  const Y = (q: number) => y0 - q * 190;
  const path = xs.map((v, i) => `${i ? 'L' : 'M'}${X(v).toFixed(1)},${Y((i + 1) / xs.length).toFixed(1)}`).join(' ');
  const vline = (v: number, color: string, label: string) => `<line x1="${X(v)}" y1="${Y(0)}" x2="${X(v)}" y2="${Y(1)}" stroke="${color}" stroke-dasharray="4 3"/><text x="${X(v) + 3}" y="${Y(1) + 12}" font-size="10" fill="${color}">${label}</text>`;
  const ticks = Array.from({ length: Math.floor((hi - lo) / 50) + 1 }, (_, i) => lo + i * 50).map((v) => `<text x="${X(v) - 10}" y="${y0 + 14}" font-size="9">${v}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>
<text x="${x0}" y="16" font-size="12">Voice-to-voice latency, cumulative share of ${xs.length} turns (ms)</text>
<line x1="${x0}" y1="${y0}" x2="${W - 20}" y2="${y0}" stroke="#000"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${Y(1)}" stroke="#000"/>
${ticks}${vline(PROVIDER_MS, '#6b7280', 'provider budget 640')}${vline(864, '#ef4444', 'LiveKit Agents JS p50 864')}${vline(700, '#f59e0b', 'target 700')}
<path d="${path}" fill="none" stroke="#2563eb" stroke-width="2"/><text x="${x0 + 4}" y="${Y(0.5)}" font-size="9">50%</text><line x1="${x0 - 3}" y1="${Y(0.5)}" x2="${x0}" y2="${Y(0.5)}" stroke="#000"/></svg>\n`;
}

async function agentTests() {
  // The testing suite's own conversations (test/testing/conversation.ts): five text turns with two
  // tool calls against the OpenAI emulator at zero latency, and a 12 s audio call on a virtual clock.
  const { fiveTurnReplies, fiveTurns, audioConversation } = await import('../test/testing/conversation');
  const { OpenAiEmulator, virtualClock } = await import('../src/testing/index');
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity });
  await oa.start();
  const llm = new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 });
  const text: number[] = [];
  for (let i = 0; i < (quick ? 10 : 50); i++) {
    oa.responder = fiveTurnReplies();
    const t0 = performance.now();
    await fiveTurns(llm);
    if (i > 0) text.push(performance.now() - t0); // the first run pays for JIT and the first connection
  }
  await oa.close();
  const audio: number[] = [];
  let callMs = 0;
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    const clock = virtualClock();
    const t0 = performance.now();
    const t0v = clock.now();
    await audioConversation(clock);
    callMs = clock.now() - t0v;
    if (i > 0) audio.push(performance.now() - t0);
  }
  const a = percentiles(audio);
  results.agentTests = { fiveTextTurnsMs: percentiles(text), audioCallWallMs: a, audioCallClockMs: callMs };
  log('\nAgent tests (voxline/testing)');
  log(`   five text turns, two tool calls      ${pct(percentiles(text))}`);
  log(`   ${(callMs / 1000).toFixed(1)} s audio call, virtual clock   ${pct(a)}  (${(callMs / a.p50).toFixed(0)}x real time at p50)`);
}

async function chaosSoak() {
  // 9. Chaos: concurrent calls through one voice server while every provider fails at random
  // (about one fault per 20 turns per provider), a drain halfway (bench/chaos.ts).
  const { chaosTable, runChaos } = await import('./chaos');
  const num = (name: string, dflt: number) => Number(arg(name)?.[0] ?? dflt);
  const calls = num('--calls', quick ? 20 : 100);
  const turns = num('--turns', quick ? 4 : 10);
  const spreadMs = Math.min(20_000, calls * 200);
  // The emulators run in a process of their own (`--emulators inline`: in the server's).
  const emulators = arg('--emulators')?.[0] === 'inline' ? ('inline' as const) : ('process' as const);
  const minutes = arg('--minutes');
  if (minutes) {
    // Sustained load: `calls` calls in flight for `--minutes`, each ended call replaced, then the
    // drain; first the same load without faults (`--baseline-minutes`, default the same; `--no-baseline`).
    const durationMs = Number(minutes[0]) * 60_000;
    const drainAtMs = arg('--drain-at') ? num('--drain-at', 0) * 1000 : undefined;
    const baselineMs = process.argv.includes('--no-baseline') ? 0 : num('--baseline-minutes', durationMs / 60_000) * 60_000;
    const base = { calls, turns, spreadMs, drainTimeoutMs: 60_000, faultEveryTurns: 20, seed: 1, probes: 5, emulators };
    const baseline = baselineMs > 0 ? await runChaos({ ...base, durationMs: baselineMs, faults: false }) : undefined;
    const r = await runChaos({ ...base, durationMs, ...(drainAtMs !== undefined ? { drainAtMs } : {}) });
    results.chaos = { ...r, baseline };
    log(`\n9. Chaos soak: ${calls} calls in flight for ${durationMs / 60_000} min (browser and Twilio; Deepgram live or Flux + LLM + ElevenLabs, Cartesia or Aura, or the Realtime brain), 1 to ${turns} lines each, a fault per ~20 turns per provider, a drain at ${((drainAtMs ?? durationMs) / 1000).toFixed(0)} s${baseline ? `; baseline without faults first, ${baselineMs / 60_000} min` : ''}`);
    for (const line of chaosTable(r, baseline)) log(line);
    return;
  }
  const drainAtMs = num('--drain-at', quick ? 20 : 60) * 1000;
  const r = await runChaos({ calls, turns, spreadMs, drainAtMs, drainTimeoutMs: drainAtMs, faultEveryTurns: 20, seed: 1, probes: 5, emulators });
  results.chaos = r;
  log(`\n9. Chaos soak: ${calls} calls (browser and Twilio; Deepgram live or Flux + LLM + ElevenLabs, Cartesia or Aura, or the Realtime brain), 1 to ${turns} lines each, a fault per ~20 turns per provider, a drain at ${drainAtMs / 1000} s`);
  for (const line of chaosTable(r)) log(line);
}

// `--only a,b` runs just those sections (latency, preempt, realtime, streaming, bargein, concurrency, cost, vad, warm, soak,
// server, throughput, agenttests, chaos, webrtc) and writes no result files.
// `--calls 100 --turns 10 --drain-at 60` set the chaos soak's scale (bench/chaos.ts); `--minutes 10`
// keeps the calls in flight that long (a fault-free baseline first: `--baseline-minutes 5`, `--no-baseline`).
// `--levels 10,100` picks bench 4's session counts, `--passes 9` its measured passes a level.
function arg(name: string): string[] | undefined {
  const i = process.argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return (process.argv[i]!.includes('=') ? process.argv[i]!.split('=')[1] : process.argv[i + 1])?.split(',');
}
const only = arg('--only');
const on = (name: string) => !only || only.includes(name);
const emu = await startEmulators();
console.log(`voxline benchmarks on ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}${quick ? ' (quick)' : ''}`);
if (on('latency')) await latency(emu.urls);
if (on('preempt')) await preemption(emu.urls);
if (on('realtime')) await realtimeLatency(emu.urls);
if (on('streaming')) await streamingVsNaive(emu.urls);
if (on('bargein')) await bargeIn(emu.urls);
if (on('concurrency')) await concurrency(emu.urls);
if (on('cost')) {
  results.costSplit = await costSplit(emu.urls, log, quick);
  results.sttAudioPath = await sttAudioPath(emu.urls, log, quick);
  results.llmRequest = await llmRequest(emu.urls, log, quick);
  results.machineFloor = await machineFloor(log, quick);
}
if (on('vad')) await vadCpu(emu.urls);
// 10. The browser transports side by side: WebSocket vs WebRTC in Chromium (bench/webrtc.ts).
if (on('webrtc')) results.webrtc = await (await import('./webrtc')).webrtcBench(emu.urls, log, { turns: quick ? 4 : 15, calls: 10, windowSeconds: quick ? 10 : 30 });
await emu.stop();
if (on('vad')) await localVad();
if (on('warm')) await warmVsCold();
if (on('soak')) await soak();
if (on('server')) await serverLoad();
if (on('throughput')) throughput();
if (on('agenttests')) await agentTests();
if (on('chaos')) await chaosSoak();
if (!only) {
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/latest.json', JSON.stringify(results, null, 2));
  await writeFile('bench/results/chart.svg', chart());
  await writeFile('bench/results/latest.txt', rows.join('\n') + '\n');
  console.log('\nwrote bench/results/latest.json, latest.txt and chart.svg');
}
