import { createServer, type Server } from 'node:http';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer, ProtocolError, AuthError } from '../../src/index';
import { twilioHandler, twiml, validateTwilioSignature, type TwilioCall } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, TwilioCallEmulator } from '../../src/testing/index';
import { sleep } from '../helpers';

let server: Server | undefined;
let sockets: { terminate(): void }[] = [];
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
  for (const ws of sockets) ws.terminate();
  sockets = [];
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(onCall: (call: TwilioCall) => void | Promise<void>, authToken?: string): Promise<string> {
  const handler = twilioHandler({ onCall, authToken, unsigned: !authToken });
  handler.wss.on('connection', (ws) => sockets.push(ws));
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml('wss://example.test/media')));
  server.on('upgrade', (req, socket, head) => handler.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return `ws://127.0.0.1:${addr.port}/media`;
}

describe('Twilio Media Streams adapter', () => {
  it('decodes start, media, dtmf and stop; reports malformed messages and goes on', async () => {
    let call!: TwilioCall;
    const got = { dtmf: [] as string[], errors: [] as unknown[], frames: 0, samples: 0 };
    const url = await serve((c) => {
      call = c;
      c.on('dtmf', (d) => got.dtmf.push(d));
      c.on('error', (e) => got.errors.push(e));
      void (async () => { for await (const f of c.input) { got.frames++; got.samples += f.samples.length; expect(f.sampleRate).toBe(8000); } })();
    });
    const phone = new TwilioCallEmulator({ url, customParameters: { caller: '+15550100' } });
    await phone.connect();
    await phone.silence(100);
    phone.sendRaw('{not json');
    phone.sendRaw(JSON.stringify({ event: 'media' }));
    phone.dtmf('7');
    await phone.silence(100);
    const start = await call.started;
    expect(start).toMatchObject({ streamSid: phone.streamSid, callSid: phone.callSid, customParameters: { caller: '+15550100' } });
    await phone.stop();
    await sleep(50);
    expect(got.dtmf).toEqual(['7']);
    expect(got.errors.length).toBe(2);
    expect(got.errors.every((e) => e instanceof ProtocolError)).toBe(true);
    expect(got.samples).toBe(1600); // 200 ms at 8 kHz: nothing lost around the bad messages
  });

  it('sends media and marks, learns playback from echoed marks, and clears', async () => {
    let call!: TwilioCall;
    const url = await serve((c) => void (call = c));
    const phone = new TwilioCallEmulator({ url });
    await phone.connect();
    await call.started;
    const out = call.output;
    const writes = Array.from({ length: 10 }, () => out.write({ samples: new Int16Array(800).fill(1000), sampleRate: 8000 })); // 1 s at once
    expect(out.writtenMs).toBe(1000);
    await sleep(400);
    void Promise.all(writes);
    expect(out.playedMs).toBeGreaterThan(200);
    expect(out.playedMs).toBeLessThan(600);
    out.clear();
    await sleep(50);
    expect(phone.clears).toBe(1);
    expect(out.writtenMs).toBe(out.playedMs);
    const played = phone.playedAudio().length / 8;
    expect(played).toBeLessThan(700);
    const sent = phone.messages.filter((m) => m.event === 'media');
    expect(sent.every((m) => m.streamSid === phone.streamSid && typeof m.media.payload === 'string')).toBe(true);
    expect(phone.messages.filter((m) => m.event === 'mark').length).toBe(10);
    await expect(out.write({ samples: new Int16Array(320), sampleRate: 16000 })).rejects.toThrow(/8 kHz/);
    await phone.stop();
  });

  it('validates X-Twilio-Signature when given an auth token', async () => {
    const token = 'twilio-auth-token';
    const url = await serve(() => {}, token);
    const host = url.replace('ws://', '');
    const sign = (u: string) => createHmac('sha1', token).update(u).digest('base64');
    await expect(new TwilioCallEmulator({ url, headers: { 'X-Twilio-Signature': 'bogus' } }).connect()).rejects.toThrow(AuthError);
    await expect(new TwilioCallEmulator({ url, headers: { 'X-Twilio-Signature': 'bogus' } }).connect()).rejects.toThrow(/refused the call: HTTP 403/);
    const ok = new TwilioCallEmulator({ url, headers: { 'X-Twilio-Signature': sign(`wss://${host}`) } });
    await ok.connect();
    await ok.stop();
    expect(validateTwilioSignature(token, 'https://a.test/voice', { From: '+1', CallSid: 'CA1' }, createHmac('sha1', token).update('https://a.test/voiceCallSidCA1From+1').digest('base64'))).toBe(true);
  });

  it('answers with TwiML that connects a bidirectional stream', () => {
    expect(twiml('wss://a.test/media', { tenant: 'x&y' })).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://a.test/media"><Parameter name="tenant" value="x&#38;y"/></Stream></Connect></Response>');
  });

  it('runs a voice session over a phone call, with barge-in clearing Twilio\'s buffer', async () => {
    const dg = new DeepgramEmulator({ script: ['Tell me a story please', 'Wait stop there'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 50 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 30 }), timeToFirstAudioMs: 50 });
    emus.push(dg, oa, el);
    await Promise.all([dg.start(), oa.start(), el.start()]);
    let session!: VoiceSession;
    const done = new Promise<void>((resolve) => {
      void serve(async (call) => {
        session = new VoiceSession({
          stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
          llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
          tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'ulaw_8000' }),
        });
        await session.run({ input: call.input, output: call.output });
        resolve();
      }).then(async (url) => {
        const phone = new TwilioCallEmulator({ url });
        await phone.connect();
        const voice = toneSynthesizer({ sampleRate: 8000, msPerChar: 45 });
        await phone.silence(200);
        await phone.say([await voice('Tell me a story please')]);
        while (!phone.messages.some((m) => m.event === 'media')) await phone.silence(20);
        await phone.silence(1500);
        await phone.say([await voice('Wait stop there')]);
        await phone.silence(2500);
        expect(phone.clears).toBe(1);
        expect(phone.marksEchoed.length).toBeGreaterThan(5);
        await phone.stop();
      });
    });
    await done;
    const story = session.history[1]!;
    expect(String(story.content).endsWith('…')).toBe(true);
    expect(session.history[2]).toEqual({ role: 'user', content: 'Wait stop there' });
  }, 30_000);
});
