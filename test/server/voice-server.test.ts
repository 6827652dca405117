import { ConfigError } from '../../src/errors';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, toneSynthesizer } from '../../src/index';
import { createVoiceServer, type VoiceServer } from '../../src/server/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, TwilioCallEmulator } from '../../src/testing/index';
import { freePort, twilioSignature } from '../helpers';
import { browserCall } from './call-client';
import { twilioSignature as signedWith } from '../../src/adapters/twilio';

const TOKEN = 'twilio-auth-token';

let emus: { close(): Promise<void> }[] = [];
let vs: VoiceServer | undefined;
afterEach(async () => { await vs?.drain(); vs = undefined; await Promise.all(emus.map((e) => e.close())); emus = []; });

async function setup(maxCalls = 10) {
  const port = await freePort();
  const dg = new DeepgramEmulator({ script: ['check my order please'] });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 50 });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 50 });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  vs = createVoiceServer({
    maxCalls,
    drainTimeoutMs: 3000,
    twilio: { publicUrl: `http://127.0.0.1:${port}`, authToken: TOKEN },
    browser: { public: true },
    agent: () => ({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    }),
  });
  await vs.listen(port, '127.0.0.1');
  return { http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

describe('createVoiceServer', () => {
  it('refuses a misspelled option by name, and a server that would serve no calls', () => {
    const agent = () => ({}) as never;
    expect(() => createVoiceServer({ agent, browser: { public: true }, maxcalls: 5 } as never)).toThrow(/unknown option `maxcalls`: did you mean `maxCalls`\?/);
    expect(() => createVoiceServer({ agent })).toThrow(ConfigError);
    expect(() => createVoiceServer({ agent })).toThrow(/serves no calls: give it `twilio`, `browser` or `webrtc`/);
  });

  it('answers browser and phone calls, with health, readiness, TwiML and Prometheus metrics', async () => {
    const { http, ws } = await setup();
    expect(await (await fetch(`${http}/healthz`)).text()).toBe('ok');
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    const form = { CallSid: 'CA1', From: '+15550100' };
    const signed = await fetch(`${http}/twiml`, { method: 'POST', body: new URLSearchParams(form), headers: { 'x-twilio-signature': twilioSignature(TOKEN, `${http}/twiml`, form) } });
    expect(await signed.text()).toContain(`<Stream url="${ws}/twilio"`);
    const call = await browserCall(`${ws}/browser`);
    expect(call.transcript).toEqual(['user: check my order please', 'agent: You said: check my order please. How else can I help?']);
    expect(call.audioBytes).toBeGreaterThan(16000);
    const phone = new TwilioCallEmulator({ url: `${ws}/twilio`, authToken: TOKEN });
    await phone.connect();
    await phone.silence(100);
    await phone.say([await toneSynthesizer({ sampleRate: 8000, msPerChar: 45 })('check my order please')]);
    while (!phone.messages.some((m) => m.event === 'media')) await phone.silence(20);
    await phone.stop();
    for (let i = 0; i < 60 && vs!.activeCalls > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/voxline_calls_total\{channel="browser"\} 1/);
    expect(metrics).toMatch(/voxline_calls_total\{channel="twilio"\} 1/);
    expect(metrics).toMatch(/voxline_turns_total 2/);
    expect(metrics).toMatch(/voxline_voice_to_voice_seconds_count 2/);
    expect(metrics).toMatch(/voxline_active_calls 0/);
  }, 30_000);

  it('checks the TwiML webhook signature over every value of a repeated form parameter', async () => {
    const { http, ws } = await setup();
    const body = new URLSearchParams([['CallSid', 'CA1'], ['Digits', '1'], ['Digits', '2']]);
    // Twilio's signature covers both values of Digits (sorted); the last one alone would not match.
    const post = (signature: string) => fetch(`${http}/twiml`, { method: 'POST', body, headers: { 'x-twilio-signature': signature } });
    const ok = await post(signedWith(TOKEN, `${http}/twiml`, { CallSid: 'CA1', Digits: ['1', '2'] }));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain(`<Stream url="${ws}/twilio"`);
    expect((await post(signedWith(TOKEN, `${http}/twiml`, { CallSid: 'CA1', Digits: '2' }))).status).toBe(403);
  });

  it('refuses calls over the limit with 503, and is not ready then', async () => {
    const { http, ws } = await setup(1);
    const first = browserCall(`${ws}/browser`);
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${http}/readyz`)).status).toBe(503);
    expect((await browserCall(`${ws}/browser`)).status).toBe(503);
    await first;
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/voxline_calls_refused_total 1/);
  }, 30_000);

  it('drains: not ready, new calls refused, active calls finish', async () => {
    const { http, ws } = await setup();
    const active = browserCall(`${ws}/browser`);
    await new Promise((r) => setTimeout(r, 300));
    const drained = vs!.drain();
    expect(vs!.draining).toBe(true);
    const refused = await browserCall(`${ws}/browser`);
    expect(refused.status).toBeDefined(); // refused (503) or not listening any more: never served
    expect(refused.transcript).toEqual([]);
    const done = await active;
    expect(done.transcript.length).toBe(2); // the active call was answered in full
    await drained;
    expect(vs!.activeCalls).toBe(0);
    void http;
  }, 30_000);
});
