/**
 * The emulators' TLS mode: the official clients that always dial `wss://` (the `openai` package's
 * `OpenAIRealtimeWS`, `@cartesia/cartesia-js`) reach the emulators by `baseURL` alone, over a TLS
 * handshake verified against the emulator's certificate (certificate checks stay on).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import type { RealtimeServerEvent } from 'openai/resources/realtime/realtime';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, toneSynthesizer } from '../../src/index';
import { CartesiaEmulator, type Emulator, RealtimeEmulator } from '../../src/testing/index';

const repo = join(import.meta.dirname, '../..');
const run = promisify(execFile);
// The SDK's ESM build looks for `ws` with `require`, which ESM lacks: load its CommonJS build.
const { Cartesia } = createRequire(import.meta.url)('@cartesia/cartesia-js') as typeof import('@cartesia/cartesia-js');

const emulators: Emulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});
function keep<E extends Emulator>(e: E): E {
  emulators.push(e);
  return e;
}

/** Opens an official Realtime client, asks for a reply to a text item; resolves with the events up to `response.done`. */
async function realtimeTurn(rt: OpenAIRealtimeWS): Promise<RealtimeServerEvent[]> {
  const events: RealtimeServerEvent[] = [];
  return new Promise((resolve, reject) => {
    rt.on('error', reject);
    rt.on('event', (ev) => {
      events.push(ev);
      if (ev.type === 'response.done') resolve(events);
    });
    rt.socket.once('open', () => {
      rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
      rt.send({ type: 'response.create' });
    });
  });
}

describe('emulators in TLS mode', () => {
  it('serve https: and wss: with a certificate for 127.0.0.1 that `ca` verifies; without tls, http: and no ca', async () => {
    const rt = keep(new RealtimeEmulator({ tls: true }));
    const car = keep(new CartesiaEmulator({ tls: true }));
    const plain = keep(new RealtimeEmulator());
    expect(() => rt.ca).toThrow(/call start\(\) first/);
    const port = Number(new URL(await rt.start()).port);
    await car.start();
    await plain.start();
    expect([rt.httpUrl, rt.wsUrl, rt.baseURL]).toEqual([`https://127.0.0.1:${port}`, `wss://127.0.0.1:${port}`, `https://127.0.0.1:${port}/v1`]);
    expect(car.baseURL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(rt.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(car.ca).toBe(rt.ca); // one certificate per process: one CA file trusts every emulator
    expect(plain.httpUrl).toMatch(/^http:\/\//);
    expect(plain.ca).toBeUndefined();
    // A real handshake: verified against `ca`, refused without it.
    const status = (ca?: string) =>
      new Promise<string>((resolve) => get(`${rt.httpUrl}/v1/models`, { ca }, (res) => { res.resume(); resolve(String(res.statusCode)); }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message)));
    expect(await status(rt.ca)).toBe('404');
    expect(await status()).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it("the openai package's OpenAIRealtimeWS reaches RealtimeEmulator by baseURL, trusting its ca: a text item in, an audio reply out", async () => {
    const emu = keep(new RealtimeEmulator({ tls: true, apiKey: 'sk-tls', timeToFirstAudioMs: 5, realtimeFactor: 0.05 }));
    await emu.start();
    const client = new OpenAI({ apiKey: 'sk-tls', baseURL: emu.baseURL });
    const rt = await OpenAIRealtimeWS.create(client, { model: 'gpt-realtime', options: { ca: emu.ca } });
    try {
      expect(rt.url.protocol).toBe('wss:');
      const events = await realtimeTurn(rt);
      const audio = events.flatMap((e) => (e.type === 'response.output_audio.delta' ? [Buffer.from(e.delta, 'base64').length] : [])).reduce((a, b) => a + b, 0);
      const transcript = events.flatMap((e) => (e.type === 'response.output_audio_transcript.delta' ? [e.delta] : [])).join('');
      expect(audio).toBeGreaterThan(0);
      expect(transcript.length).toBeGreaterThan(0);
      expect(events.at(-1)).toMatchObject({ type: 'response.done', response: { status: 'completed' } });
      expect(emu.record.connections[0]).toMatchObject({ path: '/v1/realtime', query: { model: 'gpt-realtime' } });
    } finally {
      rt.close();
    }
  });

  it("@cartesia/cartesia-js's TTS WebSocket reaches CartesiaEmulator by baseURL, trusting its ca, and receives audio", async () => {
    const emu = keep(new CartesiaEmulator({ tls: true, apiKey: 'sk_car_tls', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.05 }));
    await emu.start();
    const client = new Cartesia({ apiKey: 'sk_car_tls', baseURL: emu.baseURL });
    const ws = await client.tts.websocket({ ca: emu.ca });
    try {
      expect(ws.url.protocol).toBe('wss:');
      const ctx = ws.context({ model_id: 'sonic-3', voice: { mode: 'id', id: 'v1' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 } });
      await ctx.push({ transcript: 'Hello over TLS.' });
      await ctx.no_more_inputs();
      let bytes = 0;
      let done = false;
      for await (const ev of ctx.receive({ timeout: 10_000 })) {
        if (ev.type === 'chunk') bytes += Buffer.from(ev.data ?? '', 'base64').length;
        if (ev.type === 'done') done = true;
      }
      expect(done).toBe(true);
      expect(bytes).toBeGreaterThan(0);
      expect(emu.record.connections[0]!.path).toBe('/tts/websocket');
    } finally {
      ws.close();
    }
  });

  it('certificate checks stay on: the official Realtime client without the ca is refused before any connection is served', async () => {
    const emu = keep(new RealtimeEmulator({ tls: true }));
    await emu.start();
    const rt = await OpenAIRealtimeWS.create(new OpenAI({ apiKey: 'k', baseURL: emu.baseURL }), { model: 'gpt-realtime' });
    const err = await new Promise<Error>((resolve) => rt.on('error', resolve));
    expect((err.cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(emu.record.connections).toHaveLength(0);
  });

  it('NODE_EXTRA_CA_CERTS: a child process given the ca file runs the official Realtime client with no TLS option at all', async () => {
    const emu = keep(new RealtimeEmulator({ tls: true, apiKey: 'sk-child', timeToFirstAudioMs: 5, realtimeFactor: 0.05 }));
    await emu.start();
    const dir = await mkdtemp(join(tmpdir(), 'voxline-tls-'));
    try {
      await writeFile(join(dir, 'ca.pem'), emu.ca!);
      const script = `
        import OpenAI from 'openai';
        import { OpenAIRealtimeWS } from 'openai/realtime/ws';
        const rt = await OpenAIRealtimeWS.create(new OpenAI({ apiKey: 'sk-child', baseURL: process.env.BASE_URL }), { model: 'gpt-realtime' });
        rt.on('error', (e) => { console.error(e.message); process.exit(2); });
        rt.on('response.done', (e) => { console.log(e.response.status); rt.close(); });
        rt.socket.once('open', () => rt.send({ type: 'response.create' }));`;
      const env: NodeJS.ProcessEnv = { ...process.env, BASE_URL: emu.baseURL, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') };
      delete env.NODE_TLS_REJECT_UNAUTHORIZED;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, env, timeout: 30_000 });
      expect(stdout.trim()).toBe('completed');
      expect(emu.record.connections).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('serves a key and certificate given as `tls`; refuses unusable ones with a ConfigError', async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
    const emu = keep(new RealtimeEmulator({ tls: { key: pems.private, cert: pems.cert } }));
    await emu.start();
    expect(emu.ca).toBe(pems.cert);
    const status = await new Promise<number | undefined>((resolve, reject) => get(`${emu.httpUrl}/v1/models`, { ca: emu.ca }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject));
    expect(status).toBe(404);
    const bad = keep(new RealtimeEmulator({ tls: { key: 'not a key', cert: 'not a certificate' } }));
    await expect(bad.start()).rejects.toBeInstanceOf(ConfigError);
    const half = keep(new RealtimeEmulator({ tls: { cert: pems.cert } as { key: string; cert: string } }));
    await expect(half.start()).rejects.toThrow(/must be PEM strings/);
  });

  it("`import 'voxline'` and voxline/testing without tls never load selfsigned; tls: true without it is a ConfigError that says what to install", async () => {
    const script = `
      await import('./src/index.ts');
      const { RealtimeEmulator } = await import('./src/testing/index.ts');
      const plain = new RealtimeEmulator();
      await plain.start();
      await plain.close();
      console.log('plain ok');
      await new RealtimeEmulator({ tls: true }).start().then(() => console.log('started'), (e) => console.log(e.name + ': ' + e.message));
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/forbid-modules.mjs', '--input-type=module', '-e', script], {
      cwd: repo,
      env: { ...process.env, VOXLINE_FORBID: 'selfsigned' },
      timeout: 50_000,
    });
    expect(stdout).toMatch(/^plain ok\nConfigError: .*tls: true.*npm install --save-dev selfsigned/);
  }, 60_000);
});
