import { createServer, type Server } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { OpenAiRealtime, VoiceSession, toneSynthesizer } from '../../src/index';
import { twilioHandler } from '../../src/adapters/index';
import { RealtimeEmulator, TwilioCallEmulator } from '../../src/testing/index';

let server: Server | undefined;
let emu: RealtimeEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = emu = undefined;
});

it('runs a realtime session over a Twilio phone call: 8 kHz μ-law in and out, barge-in clears Twilio and truncates the model', async () => {
  emu = new RealtimeEmulator({ script: ['Tell me a story please', 'Wait stop there'], synthesizer: toneSynthesizer({ msPerChar: 30 }), timeToFirstAudioMs: 80 });
  await emu.start();
  let session!: VoiceSession;
  let ended!: Promise<void>;
  const handler = twilioHandler({
    unsigned: true,
    onCall: (call) => {
      session = new VoiceSession({ realtime: new OpenAiRealtime({ apiKey: 'k', baseURL: emu!.baseURL, turnDetection: { type: 'server_vad', silence_duration_ms: 200 } }) });
      ended = session.run({ input: call.input, output: call.output });
    },
  });
  server = createServer();
  server.on('upgrade', (req, socket, head) => handler.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const phone = new TwilioCallEmulator({ url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/media` });
  await phone.connect();
  const voice = toneSynthesizer({ sampleRate: 8000, msPerChar: 45 });
  await phone.silence(200);
  await phone.say([await voice('Tell me a story please')]);
  while (!phone.messages.some((m) => m.event === 'media')) await phone.silence(20);
  await phone.silence(1500);
  await phone.say([await voice('Wait stop there')]);
  await phone.silence(2500);
  expect(phone.clears).toBe(1);
  await phone.stop();
  await ended;
  // The model got 24 kHz PCM16 (the call's 8 kHz resampled), and its audio reached the phone as μ-law.
  expect((emu.record.messages.find((m) => m.type === 'session.update') as any).session.audio.input.format).toEqual({ type: 'audio/pcm', rate: 24000 });
  expect(phone.playedAudio().length).toBeGreaterThan(8000);
  const story = session.history[1]!;
  expect(String(story.content).endsWith('…')).toBe(true);
  expect(session.history[2]).toEqual({ role: 'user', content: 'Wait stop there' });
  const tr = emu.record.messages.find((m) => m.type === 'conversation.item.truncate') as any;
  expect(tr.audio_end_ms).toBeGreaterThan(300);
}, 30_000);
