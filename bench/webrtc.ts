// `npm run bench -- --only webrtc`: the two browser transports side by side, in one run, on the
// same emulated providers (the bench's emulator process): the WebSocket transport (PCM16 at
// `/browser`) and WebRTC (Opus at `POST /webrtc`), both served by one `createVoiceServer` in a
// child process (its CPU is voxline's own), both called from a real headless Chromium whose
// microphone is a WAV file (eSpeak NG saying the caller's line, then silence; Chromium loops it,
// so a call is a turn every few seconds).
//
// - Voice-to-voice at the page: in each call's page, meters (AudioWorklets) on the microphone as
//   the client captures it and on the agent's audio as the page plays it (the WebSocket client's
//   player node; the WebRTC client's received track), both in the same AudioContext, so the two
//   edges are on one audio clock: the end of the caller's speech to the first agent audio after it.
// - Server CPU per call: `process.cpuUsage()` of the server process over a steady window of
//   concurrent calls (turns going on), divided by calls and seconds.
// - Bytes on the wire per minute of call, each way: WebSocket, the TCP payload of the upgraded
//   sockets counted at the server (frames, JSON events, the upgrade); WebRTC, the page's
//   `getStats()` transport bytes (RTP, RTCP, SRTP tags, STUN, DTLS, the data channel).
// - The WebRTC media path alone (bench/webrtc-stacks/calls.ts: `webrtcHandler` calls without a
//   session, Node `@roamhq/wrtc` peers in another process), against the 2 % target.
//
// Run as `node --import tsx bench/webrtc.ts server '<urls json>'`, it is that server.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { percentiles } from '../src/session/metrics';
import type { Percentiles } from '../src/index';
import type { Urls } from './lib';

const CHROMIUM = '/usr/bin/chromium';

if (process.argv[2] === 'server') await serve(JSON.parse(process.argv[3]!) as Urls);

/** The child: one voice server taking both transports; `sample` on stdin prints its CPU and socket bytes. */
async function serve(urls: Urls): Promise<void> {
  const { DeepgramStt, ElevenLabsTts, OpenAiLlm } = await import('../src/index');
  const { createVoiceServer } = await import('../src/server/index');
  const vs = createVoiceServer({
    maxCalls: 100,
    browser: { public: true },
    webrtc: { public: true },
    agent: () => ({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: urls.listen }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: urls.llm, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: urls.tts, outputFormat: 'pcm_16000' }),
    }),
    logger: { warn: () => {} },
  });
  const sockets = new Set<Socket>();
  const closed = { read: 0, written: 0 };
  vs.server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      closed.read += socket.bytesRead;
      closed.written += socket.bytesWritten;
    });
  });
  const port = await vs.listen(0, '127.0.0.1');
  console.log(JSON.stringify({ port }));
  createInterface({ input: process.stdin }).on('line', () => {
    let read = closed.read, written = closed.written;
    for (const s of sockets) (read += s.bytesRead), (written += s.bytesWritten);
    console.log(JSON.stringify({ cpu: process.cpuUsage(), at: performance.now(), read, written, calls: vs.activeCalls }));
  });
  process.stdin.once('end', () => void vs.drain().then(() => process.exit(0)));
}

/**
 * Meters in the page, installed before the client loads: on each call's microphone and on the
 * agent's audio as played, in the same AudioContext; the edges land in `window.__vxb.events`.
 */
const INSTRUMENT = String.raw`(() => {
  const METER = ${'`'}
  class VxbMeter extends AudioWorkletProcessor {
    constructor(o) { super(); this.id = o.processorOptions.id; this.kind = o.processorOptions.kind; this.loud = false; this.last = -1e9; this.run = 0; this.hold = sampleRate / 2; }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0]; if (!ch) return true;
      for (let i = 0; i < ch.length; i++) {
        const f = currentFrame + i; const v = ch[i];
        if (v > 0.02 || v < -0.02) {
          if (!this.loud) { this.loud = true; this.run = f; if (this.kind === 'agent') this.port.postMessage({ id: this.id, kind: 'agent', t: f / sampleRate }); }
          this.last = f;
        } else if (this.loud && f - this.last > this.hold) {
          this.loud = false;
          if (this.kind === 'mic' && this.last - this.run > sampleRate * 0.3) this.port.postMessage({ id: this.id, kind: 'mic', t: this.last / sampleRate });
        }
      }
      return true;
    }
  }
  registerProcessor('vxb-meter', VxbMeter);
  ${'`'};
  const url = URL.createObjectURL(new Blob([METER], { type: 'application/javascript' }));
  const vxb = (window.__vxb = { events: [], calls: [] });
  const AWN = window.AudioWorkletNode;
  const ids = new WeakMap(); let next = 0;
  const idOf = (ctx) => { if (!ids.has(ctx)) ids.set(ctx, next++); return ids.get(ctx); };
  const tap = (ctx, node, kind) => {
    const m = new AWN(ctx, 'vxb-meter', { processorOptions: { id: idOf(ctx), kind } });
    m.port.onmessage = (e) => vxb.events.push(e.data);
    node.connect(m); m.connect(ctx.destination); // silent: a meter writes no output
  };
  // The meter module goes into every worklet before the client's own.
  const addModule = AudioWorklet.prototype.addModule;
  const added = new WeakSet();
  AudioWorklet.prototype.addModule = async function (u, o) { if (!added.has(this)) { added.add(this); await addModule.call(this, url); } return addModule.call(this, u, o); };
  // The microphones the client opens, and which WebRTC call (its received track) each belongs to.
  const mics = new WeakSet(); let lastMic;
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => { const s = await gum(c); mics.add(s); lastMic = s; return s; };
  const micOfTrack = new WeakMap();
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC { constructor(c) { super(c); const mic = lastMic; this.addEventListener('track', (e) => micOfTrack.set(e.track, mic)); } };
  const source = AudioContext.prototype.createMediaStreamSource;
  AudioContext.prototype.createMediaStreamSource = function (stream) {
    const node = source.call(this, stream);
    if (mics.has(stream)) tap(this, node, 'mic'); // WebSocket: the client's own microphone source
    const mic = micOfTrack.get(stream.getAudioTracks()[0]);
    if (mic) { tap(this, node, 'agent'); tap(this, source.call(this, mic), 'mic'); } // WebRTC: the received track, and the microphone beside it
    return node;
  };
  window.AudioWorkletNode = class extends AWN { constructor(ctx, name, o) { super(ctx, name, o); if (name === 'vx-player') tap(ctx, this, 'agent'); } };
})();`;

interface Sample { cpu: NodeJS.CpuUsage; at: number; read: number; written: number; calls: number }

/** One transport's figures. */
export interface TransportFigures {
  /** Voice-to-voice at the page, one call at a time. */
  v2v: Percentiles;
  /** The same, with `calls` calls at once. */
  v2vLoaded: Percentiles;
  calls: number;
  /** Server process CPU per call, % of a core, over `windowSeconds`. */
  cpuPercentPerCall: number;
  windowSeconds: number;
  /** Bytes on the wire per minute of call, page to server and back. */
  upBytesPerMinute: number;
  downBytesPerMinute: number;
}

/** Pairs each end of the caller's speech with the first agent audio after it in the same call (ms). */
function voiceToVoice(events: { id: number; kind: string; t: number }[]): number[] {
  const out: number[] = [];
  const byId = new Map<number, typeof events>();
  for (const e of events) {
    const list = byId.get(e.id) ?? [];
    list.push(e);
    byId.set(e.id, list);
  }
  for (const list of byId.values()) {
    list.sort((a, b) => a.t - b.t);
    let end: number | undefined;
    for (const e of list) {
      if (e.kind === 'mic') end = e.t;
      else if (end !== undefined) {
        const ms = (e.t - end) * 1000;
        if (ms > 0 && ms < 5000) out.push(ms);
        end = undefined;
      }
    }
  }
  return out;
}

/**
 * Runs the section; returns undefined (having said why) without Chromium or `@roamhq/wrtc`.
 * @param o.turns Turns of the one-call latency run per transport; `o.calls` calls at once for CPU and bytes, over `o.windowSeconds`.
 */
export async function webrtcBench(urls: Urls, log: (s: string) => void, o: { turns: number; calls: number; windowSeconds: number }): Promise<Record<string, unknown> | undefined> {
  const missing = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : await import('@roamhq/wrtc').then(() => undefined, () => 'no @roamhq/wrtc (npm install @roamhq/wrtc)');
  if (missing) {
    log(`\n10. Browser transports, WebSocket vs WebRTC: skipped, ${missing}`);
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  const { chromiumArgs, micWav } = await import('../test/helpers');
  const dir = mkdtempSync(join(tmpdir(), 'voxline-bench-webrtc-'));
  // 1 s of silence, the caller's line, 4 s of silence (the reply is about 2 s): a turn every ~6.4 s.
  const wav = await micWav(join(dir, 'mic.wav'), 'check my order please', 4);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/webrtc.ts', 'server', JSON.stringify(urls)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Sample & { port: number };
  const { port } = await next();
  const sample = async () => (child.stdin!.write('sample\n'), next());
  const base = `http://127.0.0.1:${port}`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const PERIOD_MS = 6400;

  // A Chromium with `calls` calls from one page, started a fraction of a turn apart.
  const open = async (transport: 'websocket' | 'webrtc', calls: number) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs(wav) });
    const page = await browser.newPage();
    await page.addInitScript(INSTRUMENT);
    await page.goto(`${base}/voxline-client.js`);
    const url = transport === 'webrtc' ? '/webrtc' : `ws://127.0.0.1:${port}/browser`;
    for (let i = 0; i < calls; i++) {
      await page.evaluate(async ([transport, url]) => {
        const { connect } = await import('/voxline-client.js' as string);
        (window as any).__vxb.calls.push(await connect({ transport, url }));
      }, [transport, url] as const);
      await sleep(PERIOD_MS / calls);
    }
    const events = async () => voiceToVoice(await page.evaluate(() => (window as any).__vxb.events));
    return { browser, page, events };
  };
  // WebRTC: all of the page's calls' transport bytes (getStats), at this moment.
  const pageBytes = async (page: import('playwright-core').Page) => page.evaluate(async () => {
    let up = 0, down = 0;
    for (const c of (window as any).__vxb.calls) (await c.pc.getStats()).forEach((r: any) => { if (r.type === 'transport') (up += r.bytesSent), (down += r.bytesReceived); });
    return [up, down];
  });
  // WebRTC: the page's jitter buffers, the mean delay of the audio they played out (getStats).
  const jitterBuffer = (page: import('playwright-core').Page) => page.evaluate(async () => {
    let delay = 0, count = 0;
    for (const c of (window as any).__vxb.calls) (await c.pc.getStats()).forEach((r: any) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') (delay += r.jitterBufferDelay), (count += r.jitterBufferEmittedCount); });
    return count ? (1000 * delay) / count : NaN;
  });
  const figures: Record<string, TransportFigures> = {};
  const jitterMs = [NaN, NaN];
  try {
    for (const transport of ['websocket', 'webrtc'] as const) {
      // Latency: one call, `turns` turns (the first call of the page warms up before).
      const one = await open(transport, 1);
      let single: number[];
      try {
        await sleep(PERIOD_MS * o.turns);
        single = await one.events();
        if (transport === 'webrtc') jitterMs[0] = await jitterBuffer(one.page);
      } finally {
        await one.browser.close();
      }
      // Load: `calls` at once; after a turn to settle, CPU and bytes over the window.
      const { browser, page, events } = await open(transport, o.calls);
      let cpu = 0, up = 0, down = 0, seconds = 0, loaded: number[];
      try {
        await sleep(PERIOD_MS);
        const s0 = await sample();
        const b0 = transport === 'webrtc' ? await pageBytes(page) : [s0.read, s0.written];
        await sleep(o.windowSeconds * 1000);
        const s1 = await sample();
        const b1 = transport === 'webrtc' ? await pageBytes(page) : [s1.read, s1.written];
        seconds = (s1.at - s0.at) / 1000;
        cpu = (100 * (s1.cpu.user - s0.cpu.user + s1.cpu.system - s0.cpu.system)) / 1e6 / seconds / o.calls;
        up = ((b1[0]! - b0[0]!) / o.calls / seconds) * 60;
        down = ((b1[1]! - b0[1]!) / o.calls / seconds) * 60;
        if (s1.calls !== o.calls) log(`   (${transport}: ${s1.calls} calls in progress at the server, not ${o.calls})`);
        loaded = await events();
        if (transport === 'webrtc') jitterMs[1] = await jitterBuffer(page);
      } finally {
        await browser.close();
      }
      figures[transport] = { v2v: percentiles(single), v2vLoaded: percentiles(loaded), calls: o.calls, cpuPercentPerCall: cpu, windowSeconds: seconds, upBytesPerMinute: up, downBytesPerMinute: down };
      await sleep(1000); // the server sees the calls end
    }
  } finally {
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  // The WebRTC media path alone, as in the stack comparison (Node peers, no session).
  const media = await new Promise<{ cpuPctPerCall: number }>((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'bench/webrtc-stacks/calls.ts', String(o.calls)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.once('exit', () => { try { resolve(JSON.parse(out.trim().split('\n').pop()!)); } catch (e) { reject(e); } });
  });
  const ws = figures.websocket!, rtc = figures.webrtc!;
  const kB = (b: number) => `${(b / 1000).toFixed(0)} kB`;
  const p = (x: Percentiles) => (x.count ? `${x.p50.toFixed(0)} / ${x.p99.toFixed(0)} (n=${x.count})` : 'no turns');
  const latencyOk = rtc.v2v.p50 <= ws.v2v.p50 + 20;
  const cpuOk = media.cpuPctPerCall <= 2;
  log(`\n10. Browser transports in headless Chromium (a WAV as the microphone), one voice server process; v2v = end of the caller's speech at the page's microphone -> first agent audio played at the page, ms`);
  log(`   transport   v2v p50 / p99, 1 call   v2v p50 / p99, ${o.calls} calls   server CPU per call (${o.calls} calls)   up per minute   down per minute`);
  for (const [name, f] of [['WebSocket', ws], ['WebRTC', rtc]] as const) log(`   ${name.padEnd(10)}  ${p(f.v2v).padEnd(22)}  ${p(f.v2vLoaded).padEnd(22)}  ${f.cpuPercentPerCall.toFixed(2).padStart(6)} % of a core              ${kB(f.upBytesPerMinute).padStart(8)}        ${kB(f.downBytesPerMinute).padStart(8)}`);
  log(`   WebRTC, the page's jitter buffer on average: ${jitterMs[0]!.toFixed(0)} ms at 1 call, ${jitterMs[1]!.toFixed(0)} ms at ${o.calls} (the server's, in @roamhq/wrtc, has no control: about 30 ms at 1 call by its getStats); Opus packets of 20 ms each way`);
  log(`   WebRTC media path alone (bench/webrtc-stacks/calls.ts, ${o.calls} calls, Node peers, no session): ${media.cpuPctPerCall.toFixed(2)} % of a core per call`);
  log(`   target: WebRTC v2v p50 within 20 ms of WebSocket's: ${(rtc.v2v.p50 - ws.v2v.p50).toFixed(0)} ms  ${latencyOk ? 'PASS' : 'FAIL'}`);
  log(`   target: WebRTC media path at most 2 % of a core per call: ${media.cpuPctPerCall.toFixed(2)} %  ${cpuOk ? 'PASS' : 'FAIL'}   (server CPU per call, WebRTC - WebSocket: ${(rtc.cpuPercentPerCall - ws.cpuPercentPerCall).toFixed(2)} points)`);
  return { websocket: ws, webrtc: rtc, pageJitterBufferMs: { oneCall: jitterMs[0], loaded: jitterMs[1] }, mediaPathCpuPercentPerCall: media.cpuPctPerCall, latencyTarget: latencyOk, cpuTarget: cpuOk };
}
