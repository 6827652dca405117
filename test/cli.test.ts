import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor } from '../src/cli/doctor';
import { DeepgramEmulator, ElevenLabsEmulator, GatewayEmulator } from '../src/testing/index';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

/** A TCP server that accepts connections and never answers: a provider that hangs. */
async function silentServer(): Promise<number> {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((s) => void sockets.add(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function doctor(env: NodeJS.ProcessEnv, timeoutMs = 2000): Promise<{ ok: boolean; lines: string[] }> {
  let text = '';
  const ok = await runDoctor({ env, timeoutMs, write: (t) => void (text += t) });
  return { ok, lines: text.trimEnd().split('\n') };
}

describe('voxline doctor', () => {
  it('knocks on every configured provider: accepted, refused, unreachable, silent; names keys, never their values', async () => {
    const dg = new DeepgramEmulator({ apiKey: 'dg-secret-1' });
    const el = new ElevenLabsEmulator({ apiKey: 'el-secret-2' });
    const gw = new GatewayEmulator({ apiKey: 'gw-secret-3' });
    await Promise.all([dg.start(), el.start(), gw.start()]);
    cleanup.push(() => Promise.all([dg.close(), el.close(), gw.close()]));
    const env = {
      AIGATEWAY_API_KEY: 'gw-secret-3', AIGATEWAY_BASE_URL: gw.baseURL,
      DEEPGRAM_API_KEY: 'dg-secret-1', DEEPGRAM_BASE_URL: dg.baseURL,
      ELEVENLABS_API_KEY: 'el-wrong-4', ELEVENLABS_BASE_URL: el.baseURL,
      OPENAI_API_KEY: 'oa-secret-5', OPENAI_BASE_URL: `http://127.0.0.1:${await closedPort()}/v1`,
      CARTESIA_API_KEY: 'ca-secret-6', CARTESIA_BASE_URL: `ws://127.0.0.1:${await silentServer()}`,
      LLM_MODEL: 'some-model-7',
    };
    const started = performance.now();
    const { ok, lines } = await doctor(env, 500);
    // The handshakes run together, each bounded by the timeout.
    expect(performance.now() - started).toBeLessThan(1500);
    expect(ok).toBe(false);
    const line = (re: RegExp) => lines.find((l) => re.test(l)) ?? `no line matches ${re}`;
    expect(line(/keys set/)).toBe('✓ keys set: AIGATEWAY_API_KEY, DEEPGRAM_API_KEY, OPENAI_API_KEY, ELEVENLABS_API_KEY, CARTESIA_API_KEY');
    expect(line(/settings set/)).toMatch(/AIGATEWAY_BASE_URL.*LLM_MODEL/);
    expect(line(/^. the gateway/)).toMatch(/^✓ the gateway at 127\.0\.0\.1:\d+ \(AIGATEWAY_BASE_URL\) answers and accepts AIGATEWAY_API_KEY/);
    expect(line(/^. Deepgram/)).toMatch(/^✓ Deepgram at .* answers and accepts DEEPGRAM_API_KEY/);
    expect(line(/^. ElevenLabs/)).toMatch(/^✗ ElevenLabs at .* refuses ELEVENLABS_API_KEY \(HTTP 401\): check the key/);
    expect(line(/^. the OpenAI-compatible LLM/)).toMatch(/^✗ .* unreachable \(ECONNREFUSED\): check your network and OPENAI_BASE_URL/);
    expect(line(/^. Cartesia/)).toMatch(/^✗ Cartesia at .* no answer within 500 ms/);
    for (const v of Object.values(env).filter((v) => !v.includes('127.0.0.1'))) expect(lines.join('\n')).not.toContain(v);
    // Only an upgrade: nothing sent on the sockets that opened.
    expect(dg.record.connections).toHaveLength(1);
    expect(dg.record.audioBytes).toBe(0);
    expect(dg.record.messages).toHaveLength(0);
  });

  it('without keys, touches no network and says how to get real providers; Node.js, SoX, sound cards and espeak-ng each get a line', async () => {
    const { ok, lines } = await doctor({});
    expect(ok).toBe(true);
    expect(lines[0]).toMatch(/^✓ Node\.js \d+\.\d+\.\d+ \(voxline needs 20 or newer\)$/);
    expect(lines.some((l) => /SoX (is|is not) installed/.test(l))).toBe(true);
    expect(lines.some((l) => /espeak-ng is (installed|not installed)/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^- no provider key set: `voxline demo` runs on the local emulators\. For real providers set AIGATEWAY_API_KEY/);
  });
});
