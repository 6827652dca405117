// The attack suite (issue 17): each test is one way a stranger or bad luck broke the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, ProtocolError, VoxlineError, createVoiceServer, toneSynthesizer, type VoiceServer, type VoiceServerOptions } from '../../src/index';
import { twilioHandler, type TwilioCall } from '../../src/adapters/index';
import type { Channel } from '../../src/streams/channel';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../../src/testing/index';
import { sleep } from '../helpers';

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
  const vs: VoiceServer = createVoiceServer({ agent, drainTimeoutMs: 2000, ...options });
  const port = await vs.listen(0, '127.0.0.1');
  cleanup.push(() => vs.drain());
  return { vs, dg, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

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
    const early = (await open(`${ws}/twilio`)) as WebSocket;
    const media = JSON.stringify({ event: 'media', media: { payload: Buffer.alloc(160, 0xff).toString('base64') } });
    for (let i = 0; i < 100; i++) early.send(media);
    expect(await closed(early)).toBe(1008);
    const silent = (await open(`${ws}/browser`)) as WebSocket;
    const t0 = performance.now();
    expect(await closed(silent)).toBe(1008);
    expect(performance.now() - t0).toBeLessThan(1500);

    // A call whose session never reads its input: the queue stops at its bound.
    let call!: TwilioCall;
    const handler = twilioHandler({ onCall: (c) => void (call = c), maxQueuedFrames: 50, burstMs: 60_000 });
    const { createServer } = await import('node:http');
    const server = createServer();
    server.on('upgrade', (req, socket, head) => void handler.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const phone = (await open(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`)) as WebSocket;
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
    expect((await fetch(`${http}/readyz`)).status).toBe(503);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_calls_refused_total 15/);
    for (const s of accepted) s.close();
    expect(await until(() => vs.connections === 0)).toBe(true);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
  });

  it('6. a client flooding audio gets about real time forwarded to the STT, and is closed', async () => {
    const { ws, dg } = await serve({}, true);
    const flood = (await open(`${ws}/browser`)) as WebSocket;
    flood.send(start16k);
    await sleep(100);
    const t0 = performance.now();
    const frame = Buffer.alloc(640); // 20 ms at 16 kHz
    for (let i = 0; i < 3000 && flood.readyState === WebSocket.OPEN; i++) {
      flood.send(frame); // 60 s of audio, as fast as the socket goes
      if (i % 100 === 0) await sleep(1);
    }
    expect(await closed(flood)).toBe(1008);
    const elapsed = performance.now() - t0 + 100;
        await sleep(200);
    // At most the call's duration plus the 2 s burst allowance, at 32 000 bytes a second.
    expect(dg!.record.audioBytes).toBeLessThanOrEqual(((elapsed + 2000) / 1000) * 32000);
    expect(dg!.record.audioBytes).toBeGreaterThan(0);
  });

  it('7. a dead client (no FIN, no pong) and an idle one lose their slot', async () => {
    const { vs, ws } = await serve({ limits: { heartbeatMs: 150, idleTimeoutMs: 5000 } });
    const dead = (await open(`${ws}/browser`, { autoPong: false })) as WebSocket;
    dead.send(start16k);
    expect(vs.connections).toBe(1);
    const t0 = performance.now();
    expect(await until(() => vs.connections === 0)).toBe(true);
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
    expect(delays[0]).toBeGreaterThanOrEqual(145);
    expect(delays[1]).toBeGreaterThanOrEqual(295);
    expect(delays[2]).toBeGreaterThanOrEqual(595);
    primary.kill('SIGTERM');
    expect(await new Promise((r) => primary.once('exit', r))).toBe(0);
  }, 20_000);
});

describe('errors that mislead', () => {
  it('a Twilio media format that is not mu-law ends the stream with a typed error', async () => {
    const { ws, http } = await serve();
    const phone = (await open(`${ws}/twilio`)) as WebSocket;
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
    });
    const { createServer } = await import('node:http');
    const server = createServer();
    server.on('upgrade', (req, socket, head) => void handler.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const phone = (await open(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`)) as WebSocket;
    phone.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid: 'CA1' } }));
    phone.send(JSON.stringify({ event: 'media', media: { payload: '!!not*base64!!' } }));
    await until(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect((errors[0] as Error).message).toMatch(/not base64/);
    expect((call.input as Channel<unknown>).size).toBe(0);
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
