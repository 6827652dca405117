import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, espeakSynthesizer, resample, toneSynthesizer, writeWav } from '../../src/index';
import { BROWSER_CLIENT_JS, browserHandler, type BrowserCall } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../../src/testing/index';
import { chromiumArgs, micWav, sleep } from '../helpers';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error('CI must install chromium (apt-get install -y chromium) for the browser test');
const dir = mkdtempSync(join(tmpdir(), 'voxline-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAGE = `<!doctype html><html><body><h1>voxline</h1><div id="transcript"></div>
<script type="module">
  import { connect } from '/voxline-client.js';
  window.vx = await connect({ url: 'ws://' + location.host + '/call', transcript: document.getElementById('transcript') });
</script></body></html>`;

async function serve(onCall: (call: BrowserCall) => void | Promise<void>, options: Partial<Parameters<typeof browserHandler>[0]> = {}): Promise<{ server: Server; url: string }> {
  const handler = browserHandler({ onCall, ...(options.authorize ? {} : { public: true }), ...options });
  const server = createServer((req, res) => {
    if (req.url === '/voxline-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_CLIENT_JS);
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  server.on('upgrade', (req, socket, head) => void handler.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('browser adapter', () => {
  it('refuses cross-origin pages and unauthorised clients, and reports bad messages', async () => {
    const errors: unknown[] = [];
    const { server, url } = await serve((call) => void call.on('error', (e) => errors.push(e)), { authorize: (req) => req.headers['x-token'] === 'ok' });
    const open = (headers: Record<string, string>) => new Promise<number | WebSocket>((resolve) => {
      const ws = new WebSocket(url.replace('http', 'ws') + '/call', { headers });
      ws.on('open', () => resolve(ws));
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode!));
      ws.on('error', () => {});
    });
    expect(await open({ origin: 'https://evil.test', 'x-token': 'ok' })).toBe(403);
    expect(await open({ 'x-token': 'nope' })).toBe(401);
    const ws = (await open({ 'x-token': 'ok', origin: url })) as WebSocket;
    ws.send('{"type":"start","sampleRate":16000}');
    ws.send(Buffer.alloc(3)); // odd length
    ws.send('nonsense');
    await sleep(50);
    expect(errors.length).toBe(2); // (audio before start closes the socket: test/server/attack.test.ts)
    expect(ws.readyState).toBe(WebSocket.OPEN); // the call goes on
    ws.close();
    server.closeAllConnections();
    server.close();
  });

  it.skipIf(!haveChromium)('runs a voice session in a real Chromium with a WAV as the microphone', async () => {
    // The caller: eSpeak NG speech, looped by Chromium as the fake microphone.
    const wav = await micWav(join(dir, 'mic.wav'), 'Hello there', 4);

    const dg = new DeepgramEmulator({ script: ['Hello there'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 100 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 50 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const sessions: VoiceSession[] = [];
    const { server, url } = await serve(async (call) => {
      const { sampleRate } = await call.started;
      const session = new VoiceSession({
        stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
        llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
        tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: sampleRate === 16000 ? 'pcm_16000' : 'pcm_24000' }),
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
      await page.goto(url);
      await page.waitForFunction(() => (window as any).vx?.stats.receivedBytes > 16000, undefined, { timeout: 20_000 });
      await page.waitForFunction(() => document.getElementById('transcript')?.textContent?.includes('today?'), undefined, { timeout: 10_000 });
      const text = await page.textContent('#transcript');
      expect(text).toContain('You: Hello there');
      expect(text).toContain('Agent: Hello! How can I help you today?');
      const stats = await page.evaluate(() => (window as any).vx.stats);
      expect(stats.sentBytes).toBeGreaterThan(32000);
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/browser-agent.png' });
      expect(sessions[0]!.history[0]).toEqual({ role: 'user', content: 'Hello there' });
      expect(sessions[0]!.metrics.turns.length).toBeGreaterThan(0);
    } finally {
      await browser.close();
      await Promise.all(sessions.map((s) => s.close()));
      server.closeAllConnections();
      server.close();
      await Promise.all([dg.close(), oa.close(), el.close()]);
    }
  }, 60_000);
});
