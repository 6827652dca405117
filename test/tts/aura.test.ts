import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramAuraTts, ProviderError, TimeoutError, toneSynthesizer, type AuraWarning, type TtsFrame } from '../../src/index';
import { AuraEmulator } from '../../src/testing/index';
import { collect, sleep } from '../helpers';
import { scriptedServer } from './scripted';

let emu: AuraEmulator | undefined;
let tts: DeepgramAuraTts | undefined;
let server: Awaited<ReturnType<typeof scriptedServer>> | undefined;
afterEach(async () => {
  await tts?.close();
  await emu?.close();
  await server?.close();
  emu = undefined;
  tts = undefined;
  server = undefined;
});

async function* chunks(...parts: string[]) { for (const p of parts) { yield p; await sleep(2); } }
const seconds = (frames: TtsFrame[]) => frames.reduce((n, f) => n + f.samples.length / f.sampleRate, 0);
const pcm = (n: number, v = 300) => Buffer.from(new Int16Array(n).fill(v).buffer);

describe('DeepgramAuraTts', () => {
  it('sends each chunk as a Speak ending in a space and one Flush per reply', async () => {
    emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await emu.start();
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL, sampleRate: 16000 });
    const frames = await collect(tts.synthesize(chunks('Hi.', 'Bye.')));
    expect(emu.record.messages).toEqual([{ type: 'Speak', text: 'Hi. ' }, { type: 'Speak', text: 'Bye. ' }, { type: 'Flush' }]);
    expect(seconds(frames)).toBeCloseTo(('Hi.Bye.'.length * 65) / 1000, 1);
  });

  it('speaks a reply of 25 sentences within Deepgram\'s 20 flushes a minute', async () => {
    emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 1, realtimeFactor: 0.05 });
    await emu.start();
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL, stallTimeoutMs: 1500 });
    const sentences = Array.from({ length: 25 }, (_, i) => `Sentence ${i}.`);
    const frames = await collect(tts.synthesize(chunks(...sentences)));
    expect(emu.record.messages.filter((m) => m.type === 'Flush').length).toBe(1);
    expect(seconds(frames)).toBeCloseTo((sentences.join('').length * 20) / 1000, 1);
  });

  it('does not end the next reply on a late Flushed of a cancelled one', async () => {
    let flushes = 0;
    server = await scriptedServer((m, ws) => {
      if (m.type === 'Flush') {
        const seq = flushes++;
        if (seq === 0) return void ws.send(pcm(800)); // the first reply is cut before its Flushed
        setTimeout(() => { ws.send(pcm(1600)); ws.send(JSON.stringify({ type: 'Flushed', sequence_id: seq })); }, 80);
      }
      // The cancelled reply's Flushed is late: after the next reply has started.
      if (m.type === 'Clear') setTimeout(() => { ws.send(JSON.stringify({ type: 'Flushed', sequence_id: 0 })); ws.send(JSON.stringify({ type: 'Cleared', sequence_id: 1 })); }, 30);
    });
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.url });
    const ac = new AbortController();
    await (async () => { for await (const _ of tts!.synthesize(chunks('First reply.'), { signal: ac.signal })) ac.abort(); })().catch(() => {});
    const next = await collect(tts.synthesize(chunks('Next.')));
    expect(next.reduce((n, f) => n + f.samples.length, 0)).toBe(1600);
  });

  it('replaces the socket when Cleared does not come in time', async () => {
    server = await scriptedServer((m, ws) => {
      if (m.type === 'Flush') {
        ws.send(pcm(800));
        setTimeout(() => ws.send(JSON.stringify({ type: 'Flushed', sequence_id: 0 })), 20);
      }
      // Clear is never answered.
    });
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.url, clearTimeoutMs: 300, stallTimeoutMs: 1000 });
    const ac = new AbortController();
    await (async () => { for await (const _ of tts!.synthesize(chunks('Cut.'), { signal: ac.signal })) ac.abort(); })().catch(() => {});
    const next = await collect(tts.synthesize(chunks('Next.')));
    expect(next.reduce((n, f) => n + f.samples.length, 0)).toBe(800);
    expect(server.urls.length).toBe(2);
  });

  it('surfaces Warning messages, in the typed shape and the one the service has sent', async () => {
    server = await scriptedServer((m, ws) => {
      if (m.type !== 'Flush') return;
      ws.send(JSON.stringify({ type: 'Warning', description: 'Too many flushes', code: 'EXCESSIVE_FLUSH' }));
      ws.send(JSON.stringify({ warn_code: 'EXCESSIVE_FLUSH', warn_msg: 'Flush limit exceeded' }));
      ws.send(pcm(160));
      ws.send(JSON.stringify({ type: 'Flushed', sequence_id: 0 }));
    });
    const warnings: AuraWarning[] = [];
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.url, onWarning: (w) => warnings.push(w) });
    await collect(tts.synthesize(chunks('Hi.')));
    expect(warnings).toEqual([{ code: 'EXCESSIVE_FLUSH', description: 'Too many flushes' }, { code: 'EXCESSIVE_FLUSH', description: 'Flush limit exceeded' }]);
  });

  // Found by the chaos soak: the emulator's stall still answered each Flush (with no audio), and the
  // client took that as a reply said in full: every later reply on that socket was silent, with no error.
  it('a Flush answered without any audio for its words is a ProviderError, and the next reply gets a new socket', async () => {
    let quiet = true;
    server = await scriptedServer((m, ws) => {
      if (m.type !== 'Flush') return;
      if (!quiet) ws.send(pcm(800));
      ws.send(JSON.stringify({ type: 'Flushed', sequence_id: 0 }));
      quiet = false;
    });
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.url });
    const err = await collect(tts.synthesize(chunks('Hello there.'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toContain('no audio for 13 characters');
    const next = await collect(tts.synthesize(chunks('Next.')));
    expect(next.reduce((n, f) => n + f.samples.length, 0)).toBe(800);
    expect(server.urls.length).toBe(2);
    // Punctuation alone may have no audio: not an error.
    quiet = true;
    expect(await collect(tts.synthesize(chunks('...')))).toEqual([]);
  });

  it('the emulator\'s stall sends nothing more (no Flushed, no Cleared): the reply times out, the next one gets a new socket', async () => {
    emu = new AuraEmulator({ apiKey: 'dg', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await emu.start();
    emu.inject({ stall: { afterMessages: 0 } });
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL, sampleRate: 16000, stallTimeoutMs: 300, clearTimeoutMs: 300 });
    await expect(collect(tts.synthesize(chunks('Hi there.')))).rejects.toBeInstanceOf(TimeoutError);
    const next = await collect(tts.synthesize(chunks('Hello again.')));
    expect(seconds(next)).toBeGreaterThan(0.5);
    expect(emu.record.connections.length).toBe(2);
  });

  it('times out a reply whose Flushed never comes', async () => {
    server = await scriptedServer(() => {});
    tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.url, stallTimeoutMs: 200 });
    await expect(collect(tts.synthesize(chunks('Hi.')))).rejects.toBeInstanceOf(TimeoutError);
  });
});
