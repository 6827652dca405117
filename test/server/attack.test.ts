// The attack suite (issue 17): each test is one way a stranger or bad luck broke the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { WebSocketServer } from 'ws';
import { DeepgramStt, ElevenLabsTts, GatewayTts, OpenAiLlm, ProtocolError, TimeoutError, VoxlineError, toneSynthesizer, type AudioFrame } from '../../src/index';
import { abortable } from '../../src/streams/channel';
import { createVoiceServer, runCluster, type VoiceServer, type VoiceServerOptions } from '../../src/server/index';
import { browserHandler, twilioHandler, type TwilioCall } from '../../src/adapters/index';
import { ConfigError } from '../../src/errors';
import type { Channel } from '../../src/streams/channel';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, TwilioCallEmulator, virtualClock } from '../../src/testing/index';
import { virtualSpeaker, type AudioOutput } from '../../src/adapters/index';
import { AuthError, OpenAiTts, ProviderError, VoiceSession, type TtsStream, type VoiceSessionOptions } from '../../src/index';
import { freePort, sleep, twilioSignature } from '../helpers';

const root = join(__dirname, '..', '..');
let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A server whose agent uses the emulators (started only when a test needs a real session). */
async function serve(options: Partial<VoiceServerOptions> = {}, withProviders = false) {
  let agent: VoiceServerOptions['agent'] = () => {
    throw new Error('no sessions in this test');
  };
  let dg: DeepgramEmulator | undefined;
  if (withProviders) {
    dg = new DeepgramEmulator({ script: ['check my order please'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    cleanup.push(() => Promise.all([dg!.close(), oa.close(), el.close()]));
    agent = () => ({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg!.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    });
  }
  const port = await freePort();
  const vs: VoiceServer = createVoiceServer({ agent, drainTimeoutMs: 2000, twilio: { publicUrl: `http://127.0.0.1:${port}`, authToken: TOKEN }, browser: { public: true }, ...options });
  await vs.listen(port, '127.0.0.1');
  cleanup.push(() => vs.drain());
  return { vs, dg, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

const TOKEN = 'twilio-auth-token';
/** The headers Twilio sends when opening the media stream at `url`. */
const signed = (url: string) => ({ headers: { 'x-twilio-signature': twilioSignature(TOKEN, url) } });

/** Opens a WebSocket: the socket once open, or the HTTP status that refused it. */
function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => {
      cleanup.push(() => ws.terminate());
      resolve(ws);
    });
    ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
}

/** Serves a bare Twilio handler on an HTTP server and connects a socket to it. */
async function mount(handler: ReturnType<typeof twilioHandler>): Promise<WebSocket> {
  const server = createHttpServer();
  server.on('upgrade', (req, socket, head) => void handler.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (await open(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`)) as WebSocket;
}

/** Prints a figure for docs/reliability.md when VOXLINE_FIGURES is set. */
const figure = (name: string, value: unknown) => void (process.env.VOXLINE_FIGURES && console.log(`FIGURE ${name}: ${JSON.stringify(value)}`));
const closed = (ws: WebSocket) => new Promise<number>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(-1) : ws.once('close', (code) => resolve(code))));
const until = async (cond: () => boolean, ms = 3000) => {
  for (const end = performance.now() + ms; !cond() && performance.now() < end; ) await sleep(10);
  return cond();
};
const start16k = JSON.stringify({ type: 'start', sampleRate: 16000 });

describe('attack suite', () => {
  it('1. a hook that throws refuses that one connection, and nothing else', async () => {
    let calls = 0;
    const { http, ws } = await serve({
      browser: {
        authorize: (req) => {
          if (req.headers['x-kind'] === 'sync') throw new Error('hook bug');
          if (req.headers['x-kind'] === 'async') return Promise.reject(new Error('hook bug'));
          return true;
        },
      },
      agent: () => {
        calls++;
        throw new Error('factory bug');
      },
    });
    expect(await open(`${ws}/browser`, { headers: { 'x-kind': 'sync' } })).toBe(401);
    expect(await open(`${ws}/browser`, { headers: { 'x-kind': 'async' } })).toBe(401);
    const ok = (await open(`${ws}/browser`)) as WebSocket;
    ok.send(start16k);
    expect(await closed(ok)).toBe(1000); // the factory threw: this call ends, the server goes on
    expect(calls).toBe(1);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
  });

  it('3. media before start is refused, a silent socket is closed, and the input queue is bounded', async () => {
    const { ws } = await serve({ limits: { startTimeoutMs: 300 } });
    const early = (await open(`${ws}/twilio`, signed(`${ws}/twilio`))) as WebSocket;
    const media = JSON.stringify({ event: 'media', media: { payload: Buffer.alloc(160, 0xff).toString('base64') } });
    for (let i = 0; i < 100; i++) early.send(media);
    expect(await closed(early)).toBe(1008);
    const silent = (await open(`${ws}/browser`)) as WebSocket;
    const t0 = performance.now();
    expect(await closed(silent)).toBe(1008);
    expect(performance.now() - t0).toBeLessThan(1500);

    // A call whose session never reads its input: the queue stops at its bound.
    let call!: TwilioCall;
    const handler = twilioHandler({ onCall: (c) => void (call = c), maxQueuedFrames: 50, burstMs: 60_000, unsigned: true });
    const phone = await mount(handler);
    phone.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid: 'CA1', mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
    for (let i = 0; i < 500; i++) phone.send(media);
    await until(() => call !== undefined);
    await sleep(200);
    expect((call.input as Channel<unknown>).size).toBe(50);
  });

  it('4. maxCalls is reserved at the upgrade: idle sockets over it are refused, and freed on close', async () => {
    const { http, ws, vs } = await serve({ maxCalls: 5 });
    const results = await Promise.all(Array.from({ length: 20 }, () => open(`${ws}/browser`)));
    const accepted = results.filter((r): r is WebSocket => r instanceof WebSocket);
    expect(accepted.length).toBe(5);
    expect(results.filter((r) => r === 503).length).toBe(15);
    figure('idle sockets accepted of 20, maxCalls 5', accepted.length);
    expect((await fetch(`${http}/readyz`)).status).toBe(503);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_calls_refused_total 15/);
    for (const s of accepted) s.close();
    expect(await until(() => vs.connections === 0)).toBe(true);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
  });

  it('6. a client flooding audio gets about real time forwarded to the STT, and is closed', async () => {
    const { ws, dg } = await serve({}, true);
    const flood = (await open(`${ws}/browser`)) as WebSocket;
    const t0 = performance.now();
    flood.send(start16k);
    await sleep(100);
    const frame = Buffer.alloc(640); // 20 ms at 16 kHz
    for (let i = 0; i < 3000 && flood.readyState === WebSocket.OPEN; i++) {
      flood.send(frame); // 60 s of audio, as fast as the socket goes
      if (i % 100 === 0) await sleep(1);
    }
    expect(await closed(flood)).toBe(1008);
    const elapsed = performance.now() - t0;
    await sleep(200);
    figure('flood: bytes forwarded to STT of 1920000 sent', { bytes: dg!.record.audioBytes, closedAfterMs: Math.round(elapsed) });
    // At most the call's duration plus the 2 s burst allowance, at 32 000 bytes a second
    // (60 s of audio, 1.92 MB, were sent).
    expect(dg!.record.audioBytes).toBeLessThanOrEqual(((elapsed + 2000) / 1000) * 32000);
    expect(dg!.record.audioBytes).toBeGreaterThan(0);
  });

  it('7. a dead client (no FIN, no pong) and an idle one lose their slot', async () => {
    const { vs, ws } = await serve({ limits: { heartbeatMs: 150, idleTimeoutMs: 5000 } }, true);
    const dead = (await open(`${ws}/browser`, { autoPong: false })) as WebSocket;
    dead.send(start16k);
    await sleep(50);
    expect(vs.activeCalls).toBe(1); // a session runs for it
    const t0 = performance.now();
    expect(await until(() => vs.connections === 0)).toBe(true);
    figure('dead client slot freed after (heartbeat 150 ms), ms', Math.round(performance.now() - t0));
    expect(performance.now() - t0).toBeLessThan(1000);

    const { vs: vs2, ws: ws2 } = await serve({ limits: { idleTimeoutMs: 300 } }, true);
    const idle = (await open(`${ws2}/browser`)) as WebSocket; // answers pings, sends nothing
    idle.send(start16k);
    expect(await closed(idle)).toBe(1008);
    expect(await until(() => vs2.connections === 0)).toBe(true);
  });

  it('9. drain refuses a call that starts while draining and waits for every accepted socket', async () => {
    let calls = 0;
    const { vs, ws } = await serve({ agent: () => (calls++, new Promise(() => {})) });
    const early = (await open(`${ws}/browser`)) as WebSocket;
    let drained = false;
    const drain = vs.drain().then(() => (drained = true));
    await sleep(100);
    expect(drained).toBe(false); // an accepted socket is still open
    early.send(start16k);
    expect(await closed(early)).toBe(1000);
    await drain;
    expect(calls).toBe(0);
    expect(vs.connections).toBe(0);
  });

  it('12. runCluster replaces a crashing worker with backoff, not in a loop', async () => {
    const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const primary: ChildProcess = spawn(process.execPath, ['--import', tsx, join(root, 'test/fixtures/cluster-crash.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => primary.kill('SIGKILL'));
    let out = '';
    primary.stdout!.on('data', (d) => (out += d));
    const times = (what: string) => [...out.matchAll(new RegExp(`${what} (\\d+)`, 'g'))].map((m) => Number(m[1]));
    expect(await until(() => times('fork').length >= 4, 15_000)).toBe(true);
    const forks = times('fork');
    const exits = times('exit');
    // From a worker's death to its replacement: 150, 300, 600 ms (without backoff: at once).
    const delays = [1, 2, 3].map((i) => forks[i]! - exits[i - 1]!);
    figure('runCluster restart delays, ms', delays);
    expect(delays[0]).toBeGreaterThanOrEqual(145);
    expect(delays[1]).toBeGreaterThanOrEqual(295);
    expect(delays[2]).toBeGreaterThanOrEqual(595);
    primary.kill('SIGTERM');
    expect(await new Promise((r) => primary.once('exit', r))).toBe(0);
  }, 20_000);
});

/** A WebSocket server that accepts and then never answers (and, with `deaf`, never reads). */
async function silentWsServer(deaf = false): Promise<{ url: string; connections: () => number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  let n = 0;
  wss.on('connection', (ws) => {
    n++;
    if (deaf) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  });
  cleanup.push(() => new Promise((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(r);
  }));
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, connections: () => n };
}

/** Resolves to what `p` settles to, or 'hung' after `ms`. */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p.then((v) => ({ ok: v }), (e: unknown) => ({ err: e })), sleep(ms).then(() => 'hung' as const)]);

describe('attack suite: providers and streams', () => {
  it('2. abortable() keeps no item it has passed on: memory is flat over a 30-minute call', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const frames = 30 * 60 * 50; // 30 minutes of 20 ms frames
    async function* mic(): AsyncGenerator<AudioFrame> {
      for (let i = 0; i < frames; i++) yield { samples: new Int16Array(320), sampleRate: 16000 };
    }
    // Freed audio buffers leave the count only when V8's array-buffer sweeper, which may run
    // after the collection, has released them: collect, let it run, collect again.
    const used = async () => {
      gc();
      await sleep(20);
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const ac = new AbortController();
    // Measured from the 1000th frame on: what the first frames cost once (compiled code, the
    // runner's own bookkeeping: about 4.5 MB under vitest) is not what items leave behind.
    let before = 0;
    let n = 0;
    let mid = 0;
    for await (const f of abortable(mic(), ac.signal)) {
      n += f.samples.length ? 1 : 0;
      if (n === 1000) before = await used();
      if (n === frames / 2) mid = await used();
    }
    const grown = (await used()) - before;
    figure('abortable 30 min at 16 kHz: bytes retained (mid, end)', [mid - before, grown]);
    expect(n).toBe(frames);
    // 57.6 MB of audio went through; what is kept must not grow with it.
    expect(Math.abs(grown)).toBeLessThan(2e6);
    expect(Math.abs(mid - before)).toBeLessThan(2e6);
  });

  it('5. a TTS that accepts and never answers fails the reply after its stall timeout, and close() has a deadline', async () => {
    const { url } = await silentWsServer();
    const tts = new GatewayTts({ apiKey: 'k', model: 'm', baseURL: `${url.replace('ws', 'http')}/v1`, stallTimeoutMs: 300 });
    async function* text() {
      yield 'Hello there.';
    }
    const frames = (async () => {
      for await (const _ of tts.synthesize(text())) void _;
    })();
    const r = await within(frames, 3000);
    expect(r).not.toBe('hung');
    expect((r as { err: unknown }).err).toBeInstanceOf(TimeoutError);
    await tts.close();

    // A server that takes the TCP connection and never answers the handshake.
    const held: import('node:net').Socket[] = [];
    const tcp: TcpServer = createTcpServer((sock) => void held.push(sock));
    await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', res));
    cleanup.push(() => new Promise((res) => {
      for (const sock of held) sock.destroy();
      tcp.close(res);
    }));
    const stuck = new GatewayTts({ apiKey: 'k', model: 'm', baseURL: `http://127.0.0.1:${(tcp.address() as { port: number }).port}/v1` });
    void stuck.warmup();
    const t0 = performance.now();
    expect(await within(stuck.close(), 4000)).not.toBe('hung');
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  it('5. drain() ends even when a provider never answers and ignores aborts: sockets cut after closeTimeoutMs', async () => {
    const dg = new DeepgramEmulator({ script: ['hello'] });
    await dg.start();
    cleanup.push(() => dg.close());
    // The worst TTS: takes the text, never answers, ignores its abort signal.
    const deaf = { provider: 'deaf', sampleRate: 16000, async *synthesize() { await new Promise(() => {}); } } as unknown as TtsStream;
    const { ws, vs } = await serve({
      drainTimeoutMs: 200,
      closeTimeoutMs: 300,
      agent: () => ({ stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }), llm: new OpenAiLlm({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', model: 'm' }), tts: deaf, greeting: 'Hello, how can I help?' }),
    });
    const page = (await open(`${ws}/browser`)) as WebSocket;
    page.send(start16k);
    expect(await until(() => vs.activeCalls === 1)).toBe(true);
    const t0 = performance.now();
    expect(await within(vs.drain(), 4000)).not.toBe('hung');
    figure('drain with a provider that never answers, ms (drainTimeoutMs 200, closeTimeoutMs 300)', Math.round(performance.now() - t0));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await closed(page)).not.toBe(0);
    expect(vs.connections).toBe(0);
  });

  it('5. OpenAI TTS: a server that takes the request and never answers fails the reply after its stall timeout', async () => {
    const held: import('node:http').ServerResponse[] = [];
    const server = createHttpServer((_req, res) => void held.push(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => {
      for (const res of held) res.destroy();
      server.close(r);
    }));
    const tts = new OpenAiTts({ apiKey: 'k', baseURL: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, stallTimeoutMs: 300 });
    async function* text() {
      yield 'Hello there.';
    }
    const r = await within((async () => {
      for await (const _ of tts.synthesize(text())) void _;
    })(), 3000);
    expect(r).not.toBe('hung');
    expect((r as { err: unknown }).err).toBeInstanceOf(TimeoutError);
  });

  it('5. VoiceSession.close() has a hard deadline: a TTS whose close() never returns does not hold it', async () => {
    const dg = new DeepgramEmulator({ script: ['hello'] });
    await dg.start();
    cleanup.push(() => dg.close());
    const stuck = { provider: 'stuck', sampleRate: 16000, async *synthesize() {}, close: () => new Promise<void>(() => {}) } as unknown as TtsStream;
    const session = new VoiceSession({ stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }), llm: new OpenAiLlm({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', model: 'm' }), tts: stuck, closeTimeoutMs: 300 });
    async function* mic(): AsyncGenerator<AudioFrame> {
      yield { samples: new Int16Array(320), sampleRate: 16000 };
    }
    const t0 = performance.now();
    const r = await within(session.run({ input: mic(), output: virtualSpeaker({ sampleRate: 16000 }) }), 4000);
    expect(r).not.toBe('hung');
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('6. the STT socket applies backpressure: audio is not piled up in its send buffer', async () => {
    const { url } = await silentWsServer(true); // takes the connection, never reads a byte
    const stt = new DeepgramStt({ apiKey: 'k', baseURL: `${url}/v1` });
    let pulled = 0;
    const total = 30_000; // 10 minutes of audio, offered as fast as it is taken
    async function* mic(): AsyncGenerator<AudioFrame> {
      for (; pulled < total; pulled++) {
        if (pulled % 50 === 0) await new Promise((r) => setImmediate(r)); // a fast source, not a frozen event loop
        yield { samples: new Int16Array(320), sampleRate: 16000 };
      }
    }
    const ac = new AbortController();
    const run = (async () => {
      for await (const _ of stt.transcribe(mic(), { signal: ac.signal })) void _;
    })().catch(() => {});
    await sleep(1500);
    ac.abort();
    await run;
    figure('STT backpressure: frames of 640 B taken in 1.5 s of 30000 offered', pulled);
    // What the kernel and a 256 KiB send buffer hold, not the 19 MB offered.
    expect(pulled).toBeLessThan(total / 2);
  });

  it('10. an STT socket that stays open but silent is replaced, and the audio replayed', async () => {
    const dg = new DeepgramEmulator({ script: ['hello there'] });
    await dg.start();
    cleanup.push(() => dg.close());
    dg.inject({ stall: { afterMessages: 0 } }); // the first connection answers nothing, ever
    const stt = new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL, stallTimeoutMs: 300 });
    const speech = await toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })('hello there');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    async function* mic(): AsyncGenerator<AudioFrame> {
      yield { samples: new Int16Array(3200), sampleRate: 16000 };
      yield speech;
      yield { samples: new Int16Array(16000), sampleRate: 16000 };
      await held; // the caller is still there
    }
    const finals: string[] = [];
    const ac = new AbortController();
    const run = (async () => {
      for await (const ev of stt.transcribe(mic(), { signal: ac.signal })) {
        if (ev.type === 'final' && ev.text) finals.push(ev.text);
      }
    })().catch(() => {});
    const heard = await until(() => finals.length > 0, 4000);
    ac.abort();
    release();
    await run;
    expect(heard).toBe(true);
    expect(finals[0]).toMatch(/hello there/i);
    expect(dg.record.connections.length).toBe(2);
  });
});

const STORY = 'Once upon a time there was a small radio shop by the sea. Every morning the owner opened the shutters and tuned the old receivers. Sailors came in to buy batteries and stayed to listen to the weather. One winter a storm cut the power for a week, and the shop became the only place in town with news.';

/** A session on the emulators and a virtual clock, its caller saying `line`; `hangUp` ends the call when the agent starts speaking. */
async function sessionCall(line: string, opts: Partial<VoiceSessionOptions> = {}, { hangUp = false, wrapTts = (t: TtsStream) => t } = {}) {
  const clock = virtualClock();
  const dg = new DeepgramEmulator({ script: [line], clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 40, clock, responder: () => ({ content: STORY }) });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  await Promise.all([dg.start(), oa.start(), el.start()]);
  cleanup.push(() => Promise.all([dg.close(), oa.close(), el.close()]));
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: wrapTts(new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' })),
    clock,
    ...opts,
  });
  const errors: unknown[] = [];
  const closed: string[] = [];
  session.on('error', (e) => errors.push(e));
  session.on('closed', (c) => closed.push(c.reason));
  const caller = new ScriptedCaller({ lines: [line], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  const speaker = virtualSpeaker({ sampleRate: 16000, clock });
  let gone = false;
  // The caller's phone: once it hangs up, nothing written to it is heard.
  const output: AudioOutput = {
    sampleRate: 16000,
    write: (f) => (gone ? Promise.resolve() : speaker.write(f)),
    clear: () => speaker.clear(),
    get playedMs() { return speaker.playedMs; },
    get writtenMs() { return speaker.writtenMs; },
    drain: () => (gone ? Promise.resolve() : speaker.drain()),
    close: () => speaker.close(),
    get closed() { return gone; },
  };
  async function* mic() {
    for await (const f of caller.input(session, 3000)) {
      if (hangUp && session.agentSpeaking) return void (gone = true);
      yield f;
    }
  }
  await session.run({ input: mic(), output });
  return { session, errors, closed, el, caller };
}

describe('attack suite: sessions', () => {
  it('8. when the caller hangs up mid-reply, the reply stops: no more LLM tokens or TTS characters', async () => {
    const { session, closed, errors, el } = await sessionCall('Tell me a story please', {}, { hangUp: true });
    const sentToTts = el.record.messages.map((m) => String((m as { text?: string }).text ?? '')).join('').length;
    figure('hang-up mid-reply: TTS characters billed of the reply', [session.usage.ttsCharacters, STORY.length]);
    expect(session.usage.ttsCharacters).toBeLessThan(STORY.length / 2);
    expect(sentToTts).toBeLessThan(STORY.length / 2);
    expect(closed).toEqual(['caller hung up']);
    expect(errors).toEqual([]); // a hang-up is not a failure ("stt failed")
  });

  it('11. a TTS failing mid-reply: only what was heard is recorded, then an apology (or the call closes)', async () => {
    // The first reply's TTS fails after 800 ms of audio; later ones (the apology) work.
    const flaky = (calls: { n: number }) => (inner: TtsStream): TtsStream =>
      ({
        provider: 'flaky',
        sampleRate: inner.sampleRate,
        warmup: () => inner.warmup?.() ?? Promise.resolve(),
        close: () => inner.close?.() ?? Promise.resolve(),
        async *synthesize(text: AsyncIterable<string>, o?: { signal?: AbortSignal }) {
          const first = ++calls.n === 1;
          let ms = 0;
          for await (const f of inner.synthesize(text, o)) {
            yield f;
            ms += (f.samples.length * 1000) / f.sampleRate;
            if (first && ms >= 800) throw new ProviderError('flaky TTS dropped the reply', { provider: 'flaky' });
          }
        },
      }) as unknown as TtsStream;
    const { session, errors, closed } = await sessionCall('Tell me a story please', { apology: 'Sorry, say that again?' }, { wrapTts: flaky({ n: 0 }) });
    expect(errors.map((e) => (e as Error).message)).toEqual(['flaky TTS dropped the reply']);
    const said = session.history.filter((m) => m.role === 'assistant').map((m) => String(m.content));
    // About 800 ms of speech was heard (plus what the speaker had queued), marked as cut off.
    expect(said[0]!.endsWith('…')).toBe(true);
    expect(said[0]!.length).toBeLessThan(60);
    expect(STORY.startsWith(said[0]!.slice(0, -1))).toBe(true);
    expect(said[1]).toBe('Sorry, say that again?');
    expect(session.transcript.filter((t) => t.role === 'agent').map((t) => t.text)).toEqual([said[0]!.slice(0, -1), 'Sorry, say that again?']);
    expect(closed).toEqual(['input ended']);

    const other = await sessionCall('Tell me a story please', { onProviderError: 'close' }, { wrapTts: flaky({ n: 0 }) });
    expect(other.closed).toEqual(['provider error']);
    expect(other.session.history.filter((m) => m.role === 'assistant').length).toBe(1);
  });
});

describe('attack suite: secure defaults (14)', () => {
  it('refuses to build an endpoint that anyone could use', () => {
    expect(() => twilioHandler({ onCall: () => {} })).toThrow(ConfigError);
    expect(() => browserHandler({ onCall: () => {} })).toThrow(ConfigError);
    expect(() => createVoiceServer({ agent: () => ({}) as never, twilio: { publicUrl: 'https://a.test' } as never })).toThrow(/authToken/);
    expect(() => createVoiceServer({ agent: () => ({}) as never, twilio: { authToken: 't' } as never })).toThrow(/publicUrl/);
  });

  it('checks the Twilio signature on the webhook and the upgrade; the stream URL never comes from a header', async () => {
    const { http, ws } = await serve();
    expect(await open(`${ws}/twilio`)).toBe(403);
    expect(await open(`${ws}/twilio`, { headers: { 'x-twilio-signature': twilioSignature('wrong token', `${ws}/twilio`) } })).toBe(403);
    expect((await fetch(`${http}/twiml`)).status).toBe(405);
    const form = { CallSid: 'CA1', From: '+15550100' };
    expect((await fetch(`${http}/twiml`, { method: 'POST', body: new URLSearchParams(form) })).status).toBe(403);
    // A signed webhook, sent with a forged Host: the TwiML still points at publicUrl.
    const { request } = await import('node:http');
    const body = new URLSearchParams(form).toString();
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${http}/twiml`, { method: 'POST', headers: { host: 'evil.test', 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TOKEN, `${http}/twiml`, form) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(200);
    expect(answer.text).toContain(`<Stream url="${ws}/twilio"`);
    expect(answer.text).not.toContain('evil.test');
  });

  it('serves only the endpoints configured, and refuses a missing Origin when origins are configured', async () => {
    const { ws, http } = await serve({ twilio: undefined, browser: { public: true, allowedOrigins: ['https://app.test'] } });
    expect(await open(`${ws}/twilio`)).toBe(404);
    expect((await fetch(`${http}/twiml`, { method: 'POST' })).status).toBe(404);
    expect(await open(`${ws}/browser`)).toBe(403); // no Origin
    expect(await open(`${ws}/browser`, { headers: { origin: 'https://evil.test' } })).toBe(403);
    expect(await open(`${ws}/browser`, { headers: { origin: 'https://app.test' } })).toBeInstanceOf(WebSocket);
    const { ws: ws2 } = await serve({ browser: undefined });
    expect(await open(`${ws2}/browser`)).toBe(404);
  });
});

describe('errors that mislead', () => {
  it('a bad URL or a key with a newline is a ConfigError at construction, not a SyntaxError on first use', () => {
    expect(() => new DeepgramStt({ apiKey: 'key\n' })).toThrow(ConfigError);
    expect(() => new GatewayTts({ apiKey: 'k', model: 'm', baseURL: 'not a url' })).toThrow(ConfigError);
    expect(() => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: 'ftp://x.test/v1' })).toThrow(ConfigError);
  });

  it('an unreachable STT is reported as a refused connection, not "1006"', async () => {
    const tcp: TcpServer = createTcpServer();
    await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', res));
    const port = (tcp.address() as { port: number }).port;
    await new Promise((res) => tcp.close(res)); // nothing listens there now
    const stt = new DeepgramStt({ apiKey: 'k', baseURL: `ws://127.0.0.1:${port}/v1`, maxReconnects: 0 });
    async function* mic(): AsyncGenerator<AudioFrame> {
      yield { samples: new Int16Array(320), sampleRate: 16000 };
      await sleep(2000);
    }
    let err: unknown;
    try {
      for await (const _ of stt.transcribe(mic())) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VoxlineError);
    expect((err as Error).message).toMatch(/could not connect to 127\.0\.0\.1:\d+ \(.*ECONNREFUSED/);
    expect((err as Error).message).not.toMatch(/1006/);
  });

  it('a Twilio media format that is not mu-law ends the stream with a typed error', async () => {
    const { ws, http } = await serve();
    const phone = (await open(`${ws}/twilio`, signed(`${ws}/twilio`))) as WebSocket;
    phone.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid: 'CA1', mediaFormat: { encoding: 'audio/l16', sampleRate: 16000, channels: 1 } } }));
    expect(await closed(phone)).toBe(1003);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_provider_errors_total\{provider="twilio",code="audio_format_error"\} 1/);
  });

  it('invalid base64 in Twilio media is refused, not decoded', async () => {
    let call!: TwilioCall;
    const errors: unknown[] = [];
    const handler = twilioHandler({
      onCall: (c) => {
        call = c;
        c.on('error', (e) => errors.push(e));
      },
      unsigned: true,
    });
    const phone = await mount(handler);
    phone.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid: 'CA1' } }));
    phone.send(JSON.stringify({ event: 'media', media: { payload: '!!not*base64!!' } }));
    await until(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect((errors[0] as Error).message).toMatch(/not base64/);
    expect((call.input as Channel<unknown>).size).toBe(0);
  });

  it('a client that disconnects mid-reply ends its call as a hang-up, not as "stt failed"', async () => {
    const dg = new DeepgramEmulator({ script: ['check my order please'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20, tokensPerSecond: 20, responder: () => ({ content: STORY }) });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    cleanup.push(() => Promise.all([dg.close(), oa.close(), el.close()]));
    const seen: string[] = [];
    const { ws, vs } = await serve({
      agent: () => {
        const session = new VoiceSession({
          stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
          llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
          tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
        });
        session.on('error', (e) => seen.push(`error: ${e.message}`));
        session.on('closed', (c) => seen.push(`closed: ${c.reason}`));
        return session;
      },
    });
    const speech = await toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })('check my order please');
    const page = (await open(`${ws}/browser`)) as WebSocket;
    let audio = false;
    page.on('message', (_d, binary) => (audio ||= binary));
    page.send(start16k);
    const pcm = new Int16Array(3200 + speech.samples.length + 16000 * 3);
    pcm.set(speech.samples, 3200);
    for (let i = 0; i < pcm.length && !audio; i += 320) {
      page.send(pcm.slice(i, i + 320));
      await sleep(20);
    }
    expect(audio).toBe(true);
    page.terminate(); // mid-reply
    expect(await until(() => vs.activeCalls === 0)).toBe(true);
    expect(seen).toEqual(['closed: caller hung up']);
  });

  it('an agent factory that throws shows in /metrics and in call_error events', async () => {
    const { vs, ws, http } = await serve();
    const seen: VoxlineError[] = [];
    vs.on('call_error', (e, info) => {
      seen.push(e);
      expect(info.channel).toBe('browser');
    });
    const c = (await open(`${ws}/browser`)) as WebSocket;
    c.send(start16k);
    await closed(c);
    expect(seen.length).toBe(1);
    expect(seen[0]).toBeInstanceOf(VoxlineError);
    expect(seen[0]!.message).toMatch(/agent factory failed: no sessions in this test/);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_calls_failed_total\{channel="browser"\} 1/);
  });
});

/**
 * Sends a WebSocket upgrade request on a raw socket that then never reads nor closes (half-open),
 * the way a stranger holds a refused connection; resolves to the socket once the request is sent.
 */
function halfOpenUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`, () => resolve(s));
      s.pause(); // never reads: the server's FIN stays unseen, and nothing is ever closed from here
    });
    s.on('error', reject);
    cleanup.push(() => s.destroy());
  });
}

describe('attack suite: refused upgrades, metrics, cluster and Twilio replays', () => {
  it('2. a Prometheus collector that throws answers /metrics with 500 and a log line; the process goes on', async () => {
    const { Registry, Gauge } = await import('prom-client');
    const registry = new Registry();
    let asyncBug = false;
    new Gauge({
      name: 'app_queue_depth', help: 'a collector of the app that breaks', registers: [registry],
      collect() {
        if (asyncBug) return Promise.reject(new Error('queue backend unreachable'));
        throw new Error('collector bug');
      },
    });
    const logged: string[] = [];
    const { http } = await serve({ registry, logger: { warn: (m) => logged.push(m) } });
    const first = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(3000) });
    expect(first.status).toBe(500);
    expect(await first.text()).not.toMatch(/collector bug/); // the details go to the log, not to whoever asks
    asyncBug = true;
    expect((await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(3000) })).status).toBe(500);
    expect(logged.length).toBe(2);
    expect(logged[0]).toMatch(/\/metrics failed.*collector bug/);
    expect(logged[1]).toMatch(/\/metrics failed.*queue backend unreachable/);
    expect(logged.join('\n')).not.toContain(TOKEN);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
  });

  it('3. refused upgrades from clients that never read nor close free their slot and descriptor at once', async () => {
    const { vs, http, ws } = await serve({
      maxCalls: 5,
      limits: { startTimeoutMs: 500 },
      browser: {
        allowedOrigins: ['https://app.test'],
        authorize: (req) => (req.headers['x-hang'] ? new Promise<boolean>(() => {}) : req.headers['x-user'] === 'ok'),
      },
    });
    const port = Number(new URL(http).port);
    const serverSide = new Map<number, Socket>(); // the server's socket of each client, by the client's port
    vs.server.on('connection', (s: Socket) => serverSide.set(s.remotePort!, s));
    const refused = [
      ...Array.from({ length: 3 }, () => halfOpenUpgrade(port, '/twilio')), // no signature
      ...Array.from({ length: 3 }, () => halfOpenUpgrade(port, '/twilio', { 'X-Twilio-Signature': twilioSignature('wrong token', `${ws}/twilio`) })),
      halfOpenUpgrade(port, '/browser', { Origin: 'https://evil.test', 'X-User': 'ok' }), // wrong Origin
      halfOpenUpgrade(port, '/browser', { Origin: 'https://app.test', 'X-User': 'nobody' }), // authorize says no
      halfOpenUpgrade(port, '/browser', { Origin: 'https://app.test', 'X-Hang': '1' }), // authorize never answers
      halfOpenUpgrade(port, '/nowhere'), // 404
    ];
    const t0 = performance.now();
    const clients = await Promise.all(refused);
    const stillOpen = () => clients.filter((c) => serverSide.get(c.localPort!)?.destroyed === false).length;
    await until(() => stillOpen() <= 1, 3000); // all but the one whose authorize hook hangs
    figure('refused half-open upgrades (9): descriptors closed after, ms', Math.round(performance.now() - t0));
    const freed = await until(() => vs.connections === 0 && stillOpen() === 0, 3000);
    figure('upgrade whose authorize hook hangs (startTimeoutMs 500): closed after, ms', Math.round(performance.now() - t0));
    expect({ slots: vs.connections, openDescriptors: stillOpen() }).toEqual({ slots: 0, openDescriptors: 0 });
    expect(freed).toBe(true);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    expect(await open(`${ws}/twilio`, signed(`${ws}/twilio`))).toBeInstanceOf(WebSocket);
    // The refusal was written before the socket was closed: a client that reads it later finds why.
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      clients[3]!.on('data', (d) => (text += d)).on('end', () => resolve(text)).resume();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(answer).toMatch(/signature mismatch: check authToken and the signed URL$/);
  }, 15_000);

  it('3. a client that resets its refused or pending upgrade does not crash the process', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => void crashes.push(e);
    process.on('uncaughtException', onCrash);
    cleanup.push(() => process.off('uncaughtException', onCrash));
    const { http } = await serve({ browser: { authorize: () => new Promise<boolean>(() => {}) } });
    const port = Number(new URL(http).port);
    const clients = await Promise.all([halfOpenUpgrade(port, '/nowhere'), halfOpenUpgrade(port, '/twilio'), halfOpenUpgrade(port, '/browser')]);
    await sleep(100); // the refusals are written; the authorize hook still runs
    for (const c of clients) c.resetAndDestroy();
    await sleep(100);
    expect(crashes).toEqual([]); // each would have ended a real process: an 'error' with no listener
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
  });

  it('12. runCluster with workers NaN, 0 or -2 is a ConfigError naming the valid range, not an exit with no worker', () => {
    for (const workers of [NaN, 0, -2]) {
      expect(() => runCluster({ workers, start: () => {} })).toThrow(ConfigError);
      expect(() => runCluster({ workers, start: () => {} })).toThrow(/workers must be a whole number from 1 to 1024/);
    }
  });

  it('12. runCluster refuses fractional, infinite and non-number worker counts and a missing start() too', () => {
    for (const workers of [1.5, Infinity, 1025, '2' as unknown as number]) expect(() => runCluster({ workers, start: () => {} })).toThrow(/workers must be a whole number from 1 to 1024 \(got (1\.5|Infinity|1025|"2")\)/);
    expect(() => runCluster({ workers: 2 } as never)).toThrow(ConfigError);
  });
  it('14. a Twilio start message whose signed parameter is replayed, expired or forged is refused before any agent runs', async () => {
    const secret = 'app-secret';
    const used = new Set<string>();
    const mint = (callSid: string, exp: number) => `${exp}.${createHmac('sha256', secret).update(`${callSid}.${exp}`).digest('base64url')}`;
    const webhooks: string[] = [];
    const logged: string[] = [];
    let agents = 0;
    const port = await freePort();
    const vs = createVoiceServer({
      agent: () => {
        agents++;
        throw new Error('no sessions in this test');
      },
      limits: { startTimeoutMs: 300 },
      logger: { warn: (m) => logged.push(m) },
      twilio: {
        publicUrl: `http://127.0.0.1:${port}`,
        authToken: TOKEN,
        // A short-lived token bound to the call, in a <Parameter> of the TwiML.
        parameters: (form) => {
          webhooks.push(form.get('CallSid') ?? '');
          return { token: mint(form.get('CallSid') ?? '', Date.now() + 60_000) };
        },
        verifyStart: (start) => {
          if (start.customParameters.mode === 'throw') throw new Error('hook bug');
          if (start.customParameters.mode === 'hang') return new Promise<boolean>(() => {});
          const [exp, mac] = (start.customParameters.token ?? '').split('.');
          if (!exp || !mac || Number(exp) < Date.now() || used.has(start.callSid) || mint(start.callSid, Number(exp)) !== `${exp}.${mac}`) return false;
          used.add(start.callSid); // one stream per call: a captured start message cannot be replayed
          return true;
        },
      },
    });
    await vs.listen(port, '127.0.0.1');
    cleanup.push(() => vs.drain());
    const http = `http://127.0.0.1:${port}`;
    const stream = `ws://127.0.0.1:${port}/twilio`;
    const form = { CallSid: 'CA1', From: '+15550100' };
    const answer = await (await fetch(`${http}/twiml`, { method: 'POST', body: new URLSearchParams(form), headers: { 'x-twilio-signature': twilioSignature(TOKEN, `${http}/twiml`, form) } })).text();
    expect(webhooks).toEqual(['CA1']);
    const token = /<Parameter name="token" value="([^"]+)"\/>/.exec(answer)?.[1];
    expect(token).toBeDefined();
    /** Opens the signed stream, sends `start` with these parameters; resolves to the close code. */
    const call = async (callSid: string, customParameters: Record<string, string>) => {
      const phone = (await open(stream, signed(stream))) as WebSocket;
      phone.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid, customParameters, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
      return closed(phone);
    };
    expect(await call('CA1', { token: token! })).toBe(1000); // accepted: the agent ran (and threw)
    expect(agents).toBe(1);
    expect(await call('CA1', { token: token! })).toBe(1008); // the same start message, replayed
    expect(await call('CA2', { token: mint('CA2', Date.now() - 1) })).toBe(1008); // expired
    expect(await call('CA3', { token: token! })).toBe(1008); // another call's token
    expect(await call('CA4', {})).toBe(1008); // none
    expect(await call('CA5', { mode: 'throw' })).toBe(1008);
    const t0 = performance.now();
    expect(await call('CA6', { mode: 'hang' })).toBe(1008);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(agents).toBe(1);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_calls_refused_total 6/);
    expect(logged.filter((l) => /twilio call CA\d refused/.test(l)).length).toBe(6);
    expect(logged.find((l) => l.includes('CA5'))).toMatch(/verifyStart failed: Error: hook bug/);
    expect(logged.find((l) => l.includes('CA6'))).toMatch(/verifyStart failed: Error: no answer after 300 ms/);
  });

  it('a refused Twilio upgrade says why; with an https publicUrl the signed URL is the wss:// stream URL of the TwiML', async () => {
    const port = await freePort();
    const vs = createVoiceServer({ agent: () => { throw new Error('no sessions in this test'); }, twilio: { publicUrl: 'https://agent.example.test', authToken: TOKEN } });
    await vs.listen(port, '127.0.0.1');
    cleanup.push(() => vs.drain());
    const url = `ws://127.0.0.1:${port}/twilio`; // the proxy's side of wss://agent.example.test/twilio
    const ok = new TwilioCallEmulator({ url, authToken: TOKEN, signedUrl: 'wss://agent.example.test/twilio' });
    await ok.connect();
    await ok.stop();
    const wrong = new TwilioCallEmulator({ url, authToken: TOKEN, signedUrl: 'https://agent.example.test/twilio' });
    const err = await wrong.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/HTTP 403: signature mismatch: check authToken and the signed URL/);
    const unsigned = new TwilioCallEmulator({ url });
    expect(((await unsigned.connect().catch((e: unknown) => e)) as Error).message).toMatch(/HTTP 403: no X-Twilio-Signature/);
  });

  it('3. browserHandler on its own (no createVoiceServer) closes refused half-open upgrades and ends a hanging authorize hook', async () => {
    const handler = browserHandler({
      startTimeoutMs: 300,
      allowedOrigins: ['https://app.test'],
      authorize: (req) => (req.headers['x-hang'] ? new Promise<boolean>(() => {}) : false),
      onCall: () => { throw new Error('no call is authorized in this test'); },
    });
    const server = createHttpServer((_, res) => res.end());
    server.on('upgrade', (req, socket, head) => void handler.handleUpgrade(req, socket, head));
    const serverSide: Socket[] = [];
    server.on('connection', (s: Socket) => serverSide.push(s));
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await Promise.all([
      halfOpenUpgrade(port, '/', { Origin: 'https://evil.test' }), // wrong Origin
      halfOpenUpgrade(port, '/', { Origin: 'https://app.test' }), // authorize says no
      halfOpenUpgrade(port, '/', { Origin: 'https://app.test', 'X-Hang': '1' }), // authorize never answers
    ]);
    expect(await until(() => serverSide.length === 3 && serverSide.filter((s) => !s.destroyed).length <= 1, 2000)).toBe(true);
    expect(await until(() => serverSide.every((s) => s.destroyed), 2000)).toBe(true);
  });
});
