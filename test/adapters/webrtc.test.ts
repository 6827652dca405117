import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, espeakSynthesizer, resample, toneSynthesizer, writeWav } from '../../src/index';
import { type CallRecord, createVoiceServer } from '../../src/server/index';
import { BROWSER_CLIENT_JS, WebRtcOutput, checkOffer, webrtcHandler, type WebRtcCall } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../../src/testing/index';
import { withOpusDtx } from '../../src/adapters/webrtc-sdp';
import { chromiumArgs, micWav } from '../helpers';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error('CI must install chromium (apt-get install -y chromium) for the WebRTC browser test');
const dir = mkdtempSync(join(tmpdir(), 'voxline-webrtc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAGE = `<!doctype html><html><body><h1>voxline</h1><div id="transcript"></div>
<script type="module">
  import { connect } from '/voxline-client.js';
  window.vx = await connect({ transport: 'webrtc', url: '/webrtc', transcript: document.getElementById('transcript') });
</script></body></html>`;

/** A real offer, as Chromium makes it (audio with Opus, and a data channel). */
const OFFER = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111 0', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

async function serve(onCall: (call: WebRtcCall) => void | Promise<void>, options: Partial<Parameters<typeof webrtcHandler>[0]> = {}): Promise<{ server: Server; url: string }> {
  const handler = webrtcHandler({ onCall, ...(options.authorize ? {} : { public: true }), ...options });
  const server = createServer((req, res) => {
    if (req.url === '/voxline-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_CLIENT_JS);
    if (req.url === '/webrtc') return void handler.handleRequest(req, res);
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('webrtc adapter', () => {
  it('checks offers: not SDP, no audio, no Opus', () => {
    expect(() => checkOffer('hello')).toThrow(/is not SDP/);
    expect(() => checkOffer(OFFER.replace(/m=audio[^\r]*/, 'm=video 9 UDP/TLS/RTP/SAVPF 96'))).toThrow(/no audio section/);
    expect(() => checkOffer(OFFER.replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 G722/8000'))).toThrow(/does not offer Opus/);
    expect(() => checkOffer(OFFER.replace('SAVPF 111 0', 'SAVPF 0'))).toThrow(/does not offer Opus/); // listed but not in the m-line
    expect(() => checkOffer(OFFER)).not.toThrow();
  });

  it('asks for Opus DTX on every Opus format of the audio section, once', () => {
    const chrome = OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000');
    expect(withOpusDtx(chrome)).toContain('a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1\r\n');
    expect(withOpusDtx(withOpusDtx(chrome))).toBe(withOpusDtx(chrome));
    expect(withOpusDtx(chrome.replace('useinbandfec=1', 'useinbandfec=1;usedtx=0'))).not.toContain('usedtx=1'); // the page said no
    expect(withOpusDtx(OFFER)).toContain('a=rtpmap:111 opus/48000/2\r\na=fmtp:111 usedtx=1\r\n'); // no fmtp line: one is added
    expect(withOpusDtx(OFFER)).not.toMatch(/fmtp:0/);
  });

  it('puts the agent on the wire 10 ms at a time on the clock, and counts as played what the page reports it played', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    try {
      const sent: unknown[] = [];
      const chunks: Int16Array[] = [];
      const out = new WebRtcOutput({ send: (e: unknown) => sent.push(e), hangUp: () => {} } as unknown as WebRtcCall, (c) => chunks.push(c.slice()), () => {});
      out.start();
      vi.advanceTimersByTime(20);
      expect(chunks.map((c) => c.length)).toEqual([480, 480]); // silence keeps the track's clock running
      expect(chunks.every((c) => c.every((v) => v === 0))).toBe(true);
      await out.write({ samples: new Int16Array(4800).fill(1000), sampleRate: 48000 }); // 100 ms
      vi.advanceTimersByTime(50);
      expect(out.playedMs).toBe(50); // no report yet: what went on the wire
      out.reportPlayed(40); // the page has played the first 40 ms of the track: 20 of silence, 20 of agent
      expect(out.playedMs).toBe(20);
      out.clear(); // barge-in: the 50 ms not on the wire are dropped, the page told
      expect(sent).toEqual([{ type: 'clear' }]);
      expect(out.writtenMs).toBe(50);
      vi.advanceTimersByTime(30);
      expect(chunks.slice(-3).every((c) => c.every((v) => v === 0))).toBe(true);
      expect(chunks.filter((c) => c[0] === 1000).length).toBe(5);
      out.reportPlayed(100);
      expect(out.playedMs).toBe(50);
      await expect(out.write({ samples: new Int16Array(480), sampleRate: 24000 })).rejects.toThrow(/48000 Hz/);
      out.hangUp();
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses bad SDP, a missing authorization, another origin and GET, with clear answers', async () => {
    let calls = 0;
    const { server, url } = await serve(() => void calls++, { authorize: (req) => req.headers.authorization === 'Bearer ok' });
    const post = async (body: string, headers: Record<string, string> = { authorization: 'Bearer ok' }) => {
      const res = await fetch(`${url}/webrtc`, { method: 'POST', body, headers: { 'content-type': 'application/sdp', ...headers } });
      return [res.status, await res.text()] as const;
    };
    try {
      expect(await post(OFFER, {})).toEqual([401, 'Unauthorized']);
      expect(await post(OFFER, { authorization: 'Bearer no' })).toEqual([401, 'Unauthorized']);
      expect(await post(OFFER, { authorization: 'Bearer ok', origin: 'https://evil.test' })).toEqual([403, 'Forbidden']);
      const [status, text] = await post('not an offer');
      expect(status).toBe(400);
      expect(text).toMatch(/the offer is not SDP/);
      const [s2, t2] = await post(OFFER.replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 G722/8000'));
      expect(s2).toBe(400);
      expect(t2).toMatch(/does not offer Opus/);
      expect((await fetch(`${url}/webrtc`)).status).toBe(405);
      expect((await post("x".repeat(70_000)))[0]).toBe(413);
      expect(calls).toBe(0);
      const full = await serve(() => {}, { maxCalls: 0 });
      expect((await fetch(`${full.url}/webrtc`, { method: 'POST', body: OFFER })).status).toBe(503);
      full.server.close();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it.skipIf(!haveChromium)('runs a voice session over WebRTC in a real Chromium with a WAV as the microphone', async () => {
    const wav = await micWav(join(dir, 'mic.wav'), 'Hello there', 6);

    const dg = new DeepgramEmulator({ script: ['Hello there'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 100 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 50 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const sessions: VoiceSession[] = [];
    const records: CallRecord[] = [];
    const calls: WebRtcCall[] = [];
    const { server, url } = await serve(async (call) => {
      calls.push(call);
      await call.connected;
      const session = new VoiceSession({
        stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_24000' }),
      });
      sessions.push(session);
      call.attach(session);
      await session.run({ input: call.input, output: call.output });
    });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumArgs(wav),
    });
    try {
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      page.on('pageerror', (e) => logs.push(String(e)));
      await page.goto(url);
      await page.waitForFunction(() => document.getElementById('transcript')?.textContent?.includes('today?'), undefined, { timeout: 30_000 }).catch(async (e) => {
        const state = await page.evaluate(() => ({ ice: (window as any).vx?.pc.iceConnectionState, stats: (window as any).vx?.stats, text: document.body.textContent }));
        throw new Error(`${(e as Error).message}\npage: ${logs.join('\n')} ${JSON.stringify(state)} server calls: ${calls.length}`);
      });
      // The reply's audio (a tone per word) reaches the page's <audio> track: a second or more, and loud.
      await page.waitForFunction(() => (window as any).vx?.stats.heardMs > 1000, undefined, { timeout: 20_000 });
      const text = await page.textContent('#transcript');
      expect(text).toContain('You: Hello there');
      expect(text).toContain('Agent: Hello! How can I help you today?');
      const stats = await page.evaluate(() => (window as any).vx.stats);
      expect(stats.rms).toBeGreaterThan(0.05);
      expect(stats.sentBytes).toBeGreaterThan(2000); // Opus: a few kB, not 32 kB a second
      // Opus DTX asked of both sides: the page's answer says so (its encoder sends little in silence).
      expect(await page.evaluate(() => (window as any).vx.pc.remoteDescription.sdp)).toMatch(/a=fmtp:111 [^\r]*usedtx=1/);
      expect(stats.receivedBytes).toBeGreaterThan(2000);
      expect(stats.playedMs).toBeGreaterThan(1000);
      expect(sessions[0]!.history[0]).toEqual({ role: 'user', content: 'Hello there' });
      expect(sessions[0]!.metrics.turns.length).toBeGreaterThan(0);
      expect(calls[0]!.output.playedMs).toBeGreaterThan(500);
    } finally {
      await browser.close();
      await Promise.all(sessions.map((s) => s.close()));
      for (const c of calls) c.hangUp();
      server.closeAllConnections();
      server.close();
      await Promise.all([dg.close(), oa.close(), el.close()]);
    }
  }, 90_000);

  it('loads @roamhq/wrtc only when an offer arrives', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/forbid-modules.mjs', '-e', "await import('./src/adapters/index.ts'); await import('./src/server/index.ts'); console.log('loaded')"], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, VOXLINE_FORBID: '@roamhq/wrtc' },
    });
    expect(String(out)).toContain('loaded');
  }, 60_000);

  it.skipIf(!haveChromium)('a call through createVoiceServer: /webrtc mounted, refusals, and a barge-in that keeps only the heard text', async () => {
    const voice = await espeakSynthesizer();
    const first = resample(...(await voice('Hello there').then((a) => [a.samples, a.sampleRate, 16000] as const)));
    const second = resample(...(await voice('Stop please, stop').then((a) => [a.samples, a.sampleRate, 16000] as const)));
    // Speech at 1 s, the barge-in 4 s after it ends (the agent is then reading a long story), then silence.
    const mic = new Int16Array(16000 + first.length + 16000 * 4 + second.length + 16000 * 8);
    mic.set(first, 16000);
    mic.set(second, 16000 + first.length + 16000 * 4);
    const wav = join(dir, 'barge.wav');
    writeFileSync(wav, writeWav(mic, 16000));
    const STORY = 'Once upon a time there was a voice agent that talked for a very long time about many things. '.repeat(8);
    const dg = new DeepgramEmulator({ script: ['Hello there', 'Stop please stop'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 50, tokensPerSecond: 50, responder: () => ({ content: STORY }) });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 50 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const sessions: VoiceSession[] = [];
    const records: CallRecord[] = [];
    const vs = createVoiceServer({
      webrtc: { authorize: (req) => req.headers.authorization === 'Bearer ok' },
      onCallEnd: (r) => void records.push(r),
      agent: () => {
        const session = new VoiceSession({
          stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
          llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
          tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_24000' }),
        });
        sessions.push(session);
        return session;
      },
      logger: { warn: () => {} },
    });
    const port = await vs.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: chromiumArgs(wav),
    });
    try {
      expect((await fetch(`${url}/webrtc`, { method: 'POST', body: 'v=0', headers: { authorization: 'Bearer ok' } })).status).toBe(400);
      expect((await fetch(`${url}/webrtc`, { method: 'POST', body: OFFER })).status).toBe(401);
      const page = await browser.newPage();
      await page.goto(`${url}/voxline-client.js`); // the server's own origin
      // Without the token the page's call is refused, with the server's reason.
      const refused = await page.evaluate(`import('/voxline-client.js').then(({ connect }) => connect({ transport: 'webrtc', url: '/webrtc' })).then(() => 'connected', (e) => e.message)`);
      expect(refused).toMatch(/refused the call \(401\)/);
      await page.evaluate(`(async () => {
        const { connect } = await import('/voxline-client.js');
        const t = document.createElement('div');
        t.id = 'transcript';
        document.body.appendChild(t);
        window.vx = await connect({ transport: 'webrtc', url: '/webrtc', transcript: t, headers: { authorization: 'Bearer ok' } });
      })()`);
      await page.waitForFunction(() => (window as any).vx?.stats.clears > 0, undefined, { timeout: 40_000 });
      await page.waitForFunction(() => document.getElementById('transcript')?.textContent?.includes('Stop please stop'), undefined, { timeout: 20_000 });
      const stats = await page.evaluate(() => (window as any).vx.stats);
      expect(stats.heardMs).toBeGreaterThan(500);
      const session = sessions[0]!;
      expect(session.history[0]).toEqual({ role: 'user', content: 'Hello there' });
      // The interrupted reply is kept as far as the page played it: a start of the story, not all of it.
      const heard = session.history.find((h) => h.role === 'assistant')?.content as string;
      expect(heard.length).toBeGreaterThan(10);
      expect(STORY.startsWith(heard.replace(/[\s.…]+$/, '').slice(0, 40))).toBe(true);
      expect(heard.length).toBeLessThan(STORY.length / 2);
      expect(session.history.some((h) => h.role === 'user' && h.content === 'Stop please stop')).toBe(true);
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/voxline_calls_total\{channel="webrtc"\} 1/);
      // The page hangs up: the server's call ends at once and its slot is freed.
      await page.evaluate('window.vx.close()');
      await expect.poll(() => vs.connections, { timeout: 5000 }).toBe(0);
      // One record, as the page ended it, with the heard part of the interrupted reply.
      await expect.poll(() => records.length, { timeout: 5000 }).toBe(1);
      expect(records[0]).toMatchObject({ channel: 'webrtc', ending: 'caller-hung-up' });
      const heardInRecord = records[0]!.interruptions[0]!.heardText;
      expect(heardInRecord.length).toBeGreaterThan(10);
      expect(STORY.startsWith(heardInRecord.slice(0, 30))).toBe(true);
    } finally {
      await browser.close();
      await vs.drain();
      await Promise.all([dg.close(), oa.close(), el.close()]);
    }
  }, 120_000);

  it.skipIf(!haveChromium)('a call whose media is cut mid-reply (the browser killed) ends on its own, its record kept', async () => {
    const wav = await micWav(join(dir, 'cut.wav'), 'Hello there', 10);
    const STORY = 'This reply goes on and on, sentence after sentence, for much longer than the call will last. '.repeat(8);
    const dg = new DeepgramEmulator({ script: ['Hello there'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 50, tokensPerSecond: 50, responder: () => ({ content: STORY }) });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 50 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const sessions: VoiceSession[] = [];
    const records: CallRecord[] = [];
    const errors: string[] = [];
    const vs = createVoiceServer({
      webrtc: { public: true },
      limits: { idleTimeoutMs: 1500 },
      onCallEnd: (r) => void records.push(r),
      agent: () => {
        const session = new VoiceSession({
          stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
          llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
          tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_24000' }),
        });
        sessions.push(session);
        return session;
      },
      logger: { warn: () => {} },
    });
    vs.on('call_error', (e) => errors.push(e.message));
    const port = await vs.listen(0, '127.0.0.1');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launchServer({
      executablePath: CHROMIUM,
      args: chromiumArgs(wav),
    });
    try {
      const page = await (await chromium.connect(browser.wsEndpoint())).newPage();
      await page.goto(`http://127.0.0.1:${port}/voxline-client.js`);
      await page.evaluate(`import('/voxline-client.js').then(async ({ connect }) => { window.vx = await connect({ transport: 'webrtc', url: '/webrtc' }); })`);
      await page.waitForFunction(() => (window as any).vx?.stats.heardMs > 1000, undefined, { timeout: 30_000 });
      expect(vs.activeCalls).toBe(1);
      // No goodbye, no DTLS alert: the packets just stop.
      browser.process().kill('SIGKILL');
      await expect.poll(() => vs.connections, { timeout: 15_000, interval: 100 }).toBe(0);
      expect(vs.activeCalls).toBe(0);
      const session = sessions[0]!;
      expect(session.history[0]).toEqual({ role: 'user', content: 'Hello there' });
      const reply = session.history.find((h) => h.role === 'assistant')?.content as string;
      expect(reply.length).toBeGreaterThan(10); // what was played before the cut
      expect(reply.length).toBeLessThan(STORY.length);
      expect(errors).toEqual([]); // ended, not failed
      await expect.poll(() => records.length, { timeout: 5000 }).toBe(1);
      expect(records[0]).toMatchObject({ channel: 'webrtc', ending: 'caller-vanished' });
    } finally {
      await browser.close().catch(() => {});
      await vs.drain();
      await Promise.all([dg.close(), oa.close(), el.close()]);
    }
  }, 90_000);
});
