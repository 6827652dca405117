import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ElevenLabsTts, toneSynthesizer, type TtsFrame } from '../../src/index';
import { ElevenLabsEmulator } from '../../src/testing/index';
import { collect, sleep } from '../helpers';
import { scriptedServer } from './scripted';

let emu: ElevenLabsEmulator | undefined;
let tts: ElevenLabsTts | undefined;
let server: Awaited<ReturnType<typeof scriptedServer>> | undefined;
afterEach(async () => {
  await tts?.close();
  await emu?.close();
  await server?.close();
  emu = undefined;
  tts = undefined;
  server = undefined;
});

async function* chunks(...parts: string[]) { for (const p of parts) { yield p; await sleep(5); } }
const heard = (frames: TtsFrame[]) => frames.flatMap((f) => f.alignment?.chars ?? []).join('');
const texts = (messages: Record<string, unknown>[]) => messages.filter((m) => typeof m.text === 'string' && m.text.trim()).map((m) => m.text);
const start = async (opts: ConstructorParameters<typeof ElevenLabsEmulator>[0] = {}) => {
  emu = new ElevenLabsEmulator({ apiKey: 'xi', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 10, ...opts });
  await emu.start();
  return emu;
};

describe.each([true, false])('ElevenLabsTts (multiContext: %s)', (multiContext) => {
  it('reads the alignment as the service spells it (charDurationsMs) and asks for sync_alignment and auto_mode', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000', multiContext });
    const frames = await collect(tts.synthesize(chunks('Hello there.', 'Bye.')));
    expect(heard(frames)).toBe('Hello there. Bye. ');
    expect(frames.every((f) => f.alignment!.durationsMs.length === f.alignment!.chars.length && f.alignment!.durationsMs.every((d) => d > 0))).toBe(true);
    expect(el.record.connections[0]!.query).toMatchObject({ sync_alignment: 'true', auto_mode: 'true' });
  });

  it('sends voice settings only as set, and none at all when none are set', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, multiContext });
    await collect(tts.synthesize(chunks('Hi.')));
    const init = el.record.messages.find((m) => m.text === ' ')!;
    expect(init).toEqual(multiContext ? { text: ' ', context_id: 'ctx-1' } : { text: ' ' });
    await tts.close();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, multiContext, voiceSettings: { speed: 1.1 } });
    el.record.messages.length = 0;
    await collect(tts.synthesize(chunks('Hi.')));
    expect(el.record.messages.find((m) => m.text === ' ')!.voice_settings).toEqual({ speed: 1.1 });
  });

  it('does not split raw tokens into wrong words, and sends sentence chunks as before', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000', multiContext });
    const frames = await collect(tts.synthesize(chunks('Your', ' orde', 'r', ' is', ' ready.')));
    expect(texts(el.record.messages)).toEqual(['Your ', 'order ', 'is ', 'ready. ']);
    expect(heard(frames)).toBe('Your order is ready. ');
    el.record.messages.length = 0;
    await collect(tts.synthesize(chunks('I think that', 'the answer is yes.')));
    expect(texts(el.record.messages)).toEqual(['I think that ', 'the answer is yes. ']);
  });

  it('carries an odd trailing byte of a PCM chunk over to the next chunk', async () => {
    const pcm = Buffer.from(Int16Array.from([1000, -2000, 3000]).buffer);
    const ctx = (m: Record<string, unknown>) => (m.context_id ? { contextId: m.context_id } : {});
    server = await scriptedServer((m, ws) => {
      if (m.text === 'Hi. ') {
        ws.send(JSON.stringify({ audio: pcm.subarray(0, 3).toString('base64'), ...ctx(m) }));
        ws.send(JSON.stringify({ audio: pcm.subarray(3).toString('base64'), ...ctx(m) }));
      }
      if (m.close_context === true || m.text === '') ws.send(JSON.stringify({ isFinal: true, ...ctx(m) }));
    });
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: `${server.url}/v1`, multiContext });
    const frames = await collect(tts.synthesize(chunks('Hi.')));
    expect(frames.flatMap((f) => [...f.samples])).toEqual([1000, -2000, 3000]);
  });
});

describe('ElevenLabsTts multi-context end of reply and context limit', () => {
  it('ends a reply with its last chunk flushed, then close_context, and finishes on its isFinal, not by counting alignment', async () => {
    const pcm = (n: number) => Buffer.from(new Int16Array(n).fill(500).buffer).toString('base64');
    server = await scriptedServer((m, ws) => {
      const id = m.context_id;
      // All of the text is aligned in the first audio message; more audio follows, then isFinal.
      if (m.flush === true) ws.send(JSON.stringify({ audio: pcm(160), alignment: { chars: [...'Hi. '], charStartTimesMs: [0, 1, 2, 3], charDurationsMs: [1, 1, 1, 1] }, contextId: id }));
      if (m.close_context === true) setTimeout(() => {
        ws.send(JSON.stringify({ audio: pcm(320), contextId: id }));
        ws.send(JSON.stringify({ isFinal: true, contextId: id }));
      }, 50);
    });
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: `${server.url}/v1`, outputFormat: 'pcm_16000' });
    const frames = await collect(tts.synthesize(chunks('Hi.')));
    expect(frames.map((f) => f.samples.length)).toEqual([160, 320]);
    const ctx = server.messages.filter((m) => m.context_id === 'ctx-1');
    expect(ctx).toEqual([{ text: ' ', context_id: 'ctx-1' }, { text: 'Hi. ', context_id: 'ctx-1', flush: true }, { context_id: 'ctx-1', close_context: true }]);
  });

  it('a reply of whole chunks is init, one message per chunk with flush: true (the last needs no flush message of its own), close_context', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' });
    const frames = await collect(tts.synthesize(chunks('Hello there.', 'How can I help?', 'Ask me anything.')));
    expect(heard(frames)).toBe('Hello there. How can I help? Ask me anything. ');
    const ctx = el.record.messages.filter((m) => m.context_id === 'ctx-1');
    expect(ctx).toEqual([
      { text: ' ', context_id: 'ctx-1' },
      { text: 'Hello there. ', context_id: 'ctx-1', flush: true },
      { text: 'How can I help? ', context_id: 'ctx-1', flush: true },
      { text: 'Ask me anything. ', context_id: 'ctx-1', flush: true },
      { context_id: 'ctx-1', close_context: true },
    ]);
    // Raw tokens go without flush, and the word held at the end with it; without auto_mode the
    // chunk schedule decides, so chunks go without flush and the reply ends with one.
    el.record.messages.length = 0;
    expect(heard(await collect(tts.synthesize(chunks('Your ', 'order', ' is', ' ready.'))))).toBe('Your order is ready. ');
    expect(el.record.messages.filter((m) => m.context_id === 'ctx-2').map((m) => [m.text, m.flush, m.close_context])).toEqual([
      [' ', undefined, undefined], ['Your ', undefined, undefined], ['order ', undefined, undefined], ['is ', undefined, undefined], ['ready. ', true, undefined], [undefined, undefined, true],
    ]);
    await tts.close();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000', autoMode: false });
    el.record.messages.length = 0;
    expect(heard(await collect(tts.synthesize(chunks('Hello there.', 'Bye.'))))).toBe('Hello there. Bye. ');
    expect(el.record.messages.filter((m) => m.context_id === 'ctx-1').map((m) => [m.text, m.flush, m.close_context])).toEqual([
      [' ', undefined, undefined], ['Hello there. ', undefined, undefined], ['Bye. ', undefined, undefined], [undefined, true, undefined], [undefined, undefined, true],
    ]);
  });

  it('counts a cut context until its isFinal and starts the next reply on a fresh socket rather than pass 5', async () => {
    const el = await start({ realtimeFactor: 0.5, timeToFirstAudioMs: 5 });
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' });
    // Each reply's text is all sent (and generating) when the barge-in comes: it keeps generating after close_context.
    for (let i = 0; i < 8; i++) {
      const ac = new AbortController();
      let n = 0;
      const reply = tts.synthesize(chunks(`Reply ${i} goes on for quite a while, long enough to still be generating.`), { signal: ac.signal });
      await (async () => { for await (const _ of reply) if (++n === 1) ac.abort(); })().catch(() => {});
    }
    const last = await collect(tts.synthesize(chunks('The last one.')));
    expect(heard(last)).toBe('The last one. ');
    expect(el.mostContexts).toBeLessThanOrEqual(5);
    expect(el.record.connections.length).toBeGreaterThan(1);
    expect(el.record.messages.filter((m) => m.close_context === true).length).toBe(9);
  }, 20_000);

  it('keeps a context alive through a long pause in the middle of a reply', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000', inactivityTimeoutSec: 0.4 });
    async function* slow() { yield 'Before the pause.'; await sleep(900); yield 'After it.'; }
    const frames = await collect(tts.synthesize(slow()));
    expect(heard(frames)).toBe('Before the pause. After it. ');
    expect(el.record.messages.some((m) => m.text === '' && m.context_id === 'ctx-1')).toBe(true);
  });

  it('reopens the warm socket when the service closes it while idle', async () => {
    let connections = 0;
    server = await scriptedServer(() => {}, (ws) => {
      // The first socket is closed after a while without a context, as an idle timeout would.
      if (++connections === 1) setTimeout(() => ws.close(1008, 'idle'), 1100);
    });
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: `${server.url}/v1` });
    await tts.warmup();
    await sleep(1400);
    expect(server.urls.length).toBe(2); // warm again before any reply needs it
  });

  it('refuses eleven_v3 on the multi-context socket at construction', () => {
    expect(() => new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', model: 'eleven_v3' })).toThrow(ConfigError);
    expect(() => new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', model: 'eleven_v3', multiContext: false })).not.toThrow();
  });
});

describe('ElevenLabsTts stream-input warm socket', () => {
  it('keeps the warm socket alive through a long pause, so the next reply pays no handshake', async () => {
    const el = await start();
    tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000', multiContext: false, inactivityTimeoutSec: 0.4 });
    await tts.warmup();
    await sleep(1000);
    expect(el.openConnections).toBe(1);
    const frames = await collect(tts.synthesize(chunks('Still warm.')));
    expect(heard(frames).trim()).toBe('Still warm.'); // the keep-alive spaces are aligned too
    expect(el.record.connections.length).toBe(2); // the warm one, used, and the next reply's
  });
});
