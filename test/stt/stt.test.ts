import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, DeepgramFluxStt, DeepgramStt, ProviderError, fallback, gateway, type SttEvent, type SttStream, AbortError, ProtocolError } from '../../src/index';
import { DeepgramEmulator, DeepgramFluxEmulator, GatewayEmulator } from '../../src/testing/index';
import type { AudioFrame } from '../../src/index';
import { collect, paced, utteranceFrames, sleep } from '../helpers';

let emu: DeepgramEmulator | GatewayEmulator | DeepgramFluxEmulator;
afterEach(() => emu?.close());

async function* concat(...parts: ReturnType<typeof utteranceFrames>[]) {
  for (const p of parts) for (const f of await p) yield f;
}

/** Each STT provider must pass the same behaviour checks. */
const providers: [string, () => Promise<{ stt: SttStream; emu: DeepgramEmulator | GatewayEmulator | DeepgramFluxEmulator }>][] = [
  ['deepgram', async () => { const e = new DeepgramEmulator({ apiKey: 'dg', script: ['first thing', 'second thing'] }); await e.start(); return { emu: e, stt: new DeepgramStt({ apiKey: 'dg', baseURL: e.baseURL }) }; }],
  ['gateway', async () => { const e = new GatewayEmulator({ apiKey: 'sk-aig', script: ['first thing', 'second thing'] }); await e.start(); return { emu: e, stt: gateway({ apiKey: 'sk-aig', baseURL: e.baseURL }).stt('deepgram/nova-3') }; }],
  ['deepgram flux', async () => { const e = new DeepgramFluxEmulator({ apiKey: 'dg', script: ['first thing', 'second thing'] }); await e.start(); return { emu: e, stt: new DeepgramFluxStt({ apiKey: 'dg', baseURL: e.baseURL }) }; }],
  ['gateway realtime', async () => { const e = new GatewayEmulator({ apiKey: 'sk-aig', script: ['first thing', 'second thing'] }); await e.start(); return { emu: e, stt: gateway({ apiKey: 'sk-aig', baseURL: e.baseURL }).stt('deepgram/nova-3', { realtime: true }) }; }],
];

describe.each(providers)('SttStream: %s', (_name, make) => {
  it('yields interim and final events with end of turn and word timings, then ends', async () => {
    const made = await make();
    emu = made.emu;
    const events = await collect(made.stt.transcribe(concat(utteranceFrames(900, 200, 500), utteranceFrames(700, 0, 500))));
    const finals = events.filter((e): e is Extract<SttEvent, { type: 'final' }> => e.type === 'final');
    expect(finals.map((f) => f.text)).toEqual(['first thing', 'second thing']);
    expect(finals.every((f) => f.endOfTurn)).toBe(true);
    expect(events.some((e) => e.type === 'interim')).toBe(true);
    expect(events.some((e) => e.type === 'speech_started')).toBe(true);
    expect(finals[0]!.words[0]!.start).toBeCloseTo(0.2, 1);
    // the second utterance starts at 1.6 s of audio: times run across the whole stream
    expect(finals[1]!.words[0]!.start).toBeCloseTo(1.6, 1);
    await sleep(50);
    expect(emu.openConnections).toBe(0);
  });

  it('resamples 48 kHz input to the provider rate', async () => {
    const made = await make();
    emu = made.emu;
    const events = await collect(made.stt.transcribe(concat(utteranceFrames(800, 200, 500, 48000))));
    expect(events.filter((e) => e.type === 'final').map((e) => (e as { text: string }).text)).toEqual(['first thing']);
    expect(emu.record.audioBytes).toBe(1.5 * 16000 * 2);
  });

  it('closes the socket when the consumer breaks out', async () => {
    const made = await make();
    emu = made.emu;
    for await (const ev of made.stt.transcribe(paced(await utteranceFrames(3000, 100, 100)))) if (ev.type === 'speech_started' || ev.type === 'interim') break;
    await sleep(50);
    expect(emu.openConnections).toBe(0);
  });

  it('aborts with AbortError and closes the socket', async () => {
    const made = await make();
    emu = made.emu;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    await expect(collect(made.stt.transcribe(paced(await utteranceFrames(3000)), { signal: ac.signal }))).rejects.toBeInstanceOf(AbortError);
    await sleep(50);
    expect(emu.openConnections).toBe(0);
  });
});

describe('DeepgramStt', () => {
  it('sends every query option and the Token header', async () => {
    emu = new DeepgramEmulator({ apiKey: 'dg' });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL, model: 'nova-2-phonecall', language: 'en-US', keyterms: ['voxline'], query: { diarize: true } });
    await collect(stt.transcribe(concat(utteranceFrames(300, 0, 100))));
    const c = emu.record.connections[0]!;
    expect(c.query).toMatchObject({ model: 'nova-2-phonecall', encoding: 'linear16', sample_rate: '16000', channels: '1', interim_results: 'true', endpointing: '300', utterance_end_ms: '1000', vad_events: 'true', smart_format: 'true', punctuate: 'true', language: 'en-US', keyterm: 'voxline', diarize: 'true' });
    expect(c.headers.authorization).toBe('Token dg');
    expect(emu.record.messages.at(-1)).toEqual({ type: 'CloseStream' });
  });

  it('sends mulaw at 8 kHz when asked', async () => {
    emu = new DeepgramEmulator({ script: ['phone call'] });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL, encoding: 'mulaw' });
    const events = await collect(stt.transcribe(concat(utteranceFrames(800, 200, 400))));
    expect(emu.record.connections[0]!.query).toMatchObject({ encoding: 'mulaw', sample_rate: '8000' });
    expect(emu.record.audioBytes).toBe(1.4 * 8000);
    expect(events.find((e) => e.type === 'final')).toMatchObject({ text: 'phone call' });
  });

  it('sends KeepAlive during silence so the idle timeout never fires', async () => {
    emu = new DeepgramEmulator({ idleTimeoutMs: 300 });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL, keepAliveMs: 100 });
    async function* gap() { yield* await utteranceFrames(100, 0, 0); await sleep(700); yield* await utteranceFrames(100, 0, 0); }
    await collect(stt.transcribe(gap()));
    expect(emu.record.messages.filter((m) => m.type === 'KeepAlive').length).toBeGreaterThanOrEqual(4);
    expect(emu.record.connections.length).toBe(1);
  });

  it('reconnects after a drop mid-utterance and replays the unacknowledged audio: nothing is lost', async () => {
    emu = new DeepgramEmulator({ script: ['before the drop', 'during the drop'] });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL });
    emu.inject({ closeMidStream: { afterMs: 1900, code: 1011, reason: 'NET-0000' } });
    // utterance 1: 0.2-1.0 s (final at ~1.14 s); utterance 2: 1.7-2.7 s, dropped at 1.9 s.
    const events = await collect(stt.transcribe(paced([...(await utteranceFrames(800, 200, 700)), ...(await utteranceFrames(1000, 0, 600))])));
    const finals = events.filter((e) => e.type === 'final') as Extract<SttEvent, { type: 'final' }>[];
    expect(finals.map((f) => f.text)).toEqual(['before the drop', 'during the drop']);
    expect(emu.record.connections.length).toBe(2);
    // The second utterance's times are continuous with the first connection's.
    expect(finals[1]!.words[0]!.start).toBeCloseTo(1.7, 1);
  });

  it('fails with a typed error after the retry budget', async () => {
    emu = new DeepgramEmulator();
    await emu.start();
    emu.inject({ refuse: { count: 10, status: 503 } });
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL, maxReconnects: 2 });
    const err = await collect(stt.transcribe(paced(await utteranceFrames(2000)))).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(true);
    expect(emu.record.connections.length).toBe(0);
  });

  it('refuses a wrong key with AuthError naming the provider, never the key', async () => {
    emu = new DeepgramEmulator({ apiKey: 'right' });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'sentinel-secret-key-123', baseURL: (emu as DeepgramEmulator).baseURL });
    const err = await collect(stt.transcribe(concat(utteranceFrames(300)))).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.provider).toBe('deepgram');
    expect(err.message).not.toContain('sentinel-secret-key-123');
  });

  it('turns a malformed provider message into ProtocolError once it may not reconnect (one is survived: see test/server/chaos.test.ts)', async () => {
    emu = new DeepgramEmulator();
    await emu.start();
    emu.inject({ malformed: true });
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL, maxReconnects: 0 });
    await expect(collect(stt.transcribe(concat(utteranceFrames(800))))).rejects.toBeInstanceOf(ProtocolError);
  });

  it('sends Finalize on request and yields the from-finalize final', async () => {
    emu = new DeepgramEmulator({ script: ['flush me now'] });
    await emu.start();
    const stt = new DeepgramStt({ apiKey: 'dg', baseURL: (emu as DeepgramEmulator).baseURL });
    const frames = await utteranceFrames(1000, 100, 0);
    const t = stt.transcribe(paced([...frames, ...(await utteranceFrames(0, 300, 0))]));
    setTimeout(() => t.finalize(), 1000);
    const events = await collect(t);
    expect(emu.record.messages).toContainEqual({ type: 'Finalize' });
    expect(events.find((e) => e.type === 'final')).toMatchObject({ text: 'flush me now', endOfTurn: false });
  });
  describe('closing: the last results and the Metadata are waited for (bounded)', () => {
    const lastWords = async (opts: ConstructorParameters<typeof DeepgramEmulator>[0] = {}) => {
      emu = new DeepgramEmulator({ script: ['the last words'], closeStreamDelayMs: 250, ...opts });
      await emu.start();
      return emu as DeepgramEmulator;
    };

    it('close() sends CloseStream and still yields the final of the speech in progress', async () => {
      const dg = await lastWords();
      const t = new DeepgramStt({ apiKey: 'dg', baseURL: dg.baseURL }).transcribe(paced(await utteranceFrames(4000, 100, 0)));
      const started = performance.now();
      setTimeout(() => void t.close!(), 900);
      const events = await collect(t);
      expect(performance.now() - started).toBeLessThan(2500);
      expect(events.filter((e) => e.type === 'final')).toMatchObject([{ text: 'the last words', endOfTurn: false }]);
      expect(dg.record.messages.at(-1)).toEqual({ type: 'CloseStream' });
      await sleep(50);
      expect(dg.closes).toEqual([{ code: 1000, by: 'server', metadataSent: true }]);
    });

    it('close() works through a fallback chain too', async () => {
      const dg = await lastWords();
      const t = fallback([new DeepgramStt({ apiKey: 'dg', baseURL: dg.baseURL })]).transcribe(paced(await utteranceFrames(4000, 100, 0)));
      setTimeout(() => void t.close!(), 900);
      const events = await collect(t);
      expect(events.filter((e) => e.type === 'final')).toMatchObject([{ text: 'the last words', endOfTurn: false }]);
      await sleep(50);
      expect(dg.closes).toEqual([{ code: 1000, by: 'server', metadataSent: true }]);
    });

    it('on break, the socket stays open until the service has sent its Metadata and closed', async () => {
      const dg = await lastWords();
      for await (const ev of new DeepgramStt({ apiKey: 'dg', baseURL: dg.baseURL }).transcribe(paced(await utteranceFrames(4000, 100, 0)))) if (ev.type === 'interim') break;
      await sleep(450);
      expect(dg.record.messages.at(-1)).toEqual({ type: 'CloseStream' });
      expect(dg.closes).toEqual([{ code: 1000, by: 'server', metadataSent: true }]);
      expect(dg.openConnections).toBe(0);
    });

    it('on abort, iteration throws at once and the socket is still closed by the service', async () => {
      const dg = await lastWords();
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 700);
      const started = performance.now();
      await expect(collect(new DeepgramStt({ apiKey: 'dg', baseURL: dg.baseURL }).transcribe(paced(await utteranceFrames(4000, 100, 0)), { signal: ac.signal }))).rejects.toBeInstanceOf(AbortError);
      expect(performance.now() - started).toBeLessThan(900);
      await sleep(450);
      expect(dg.closes).toEqual([{ code: 1000, by: 'server', metadataSent: true }]);
    });

    it('gives up waiting after closeTimeoutMs', async () => {
      const dg = await lastWords({ closeStreamDelayMs: 10_000 });
      const t = new DeepgramStt({ apiKey: 'dg', baseURL: dg.baseURL, closeTimeoutMs: 300 }).transcribe(paced(await utteranceFrames(4000, 100, 0)));
      const done = collect(t);
      await sleep(600);
      const started = performance.now();
      await t.close!();
      expect(performance.now() - started).toBeLessThan(600);
      await done;
      await sleep(50);
      expect(dg.closes).toEqual([{ code: 1000, by: 'client', metadataSent: false }]);
    });
  });
});

describe('GatewayStt', () => {
  it('sends no KeepAlive during pauses: the contract is binary audio plus CloseStream', async () => {
    const gw = new GatewayEmulator({ apiKey: 'sk-aig', script: ['after the pause'] });
    emu = gw;
    await gw.start();
    const stt = gateway({ apiKey: 'sk-aig', baseURL: gw.baseURL }).stt('deepgram/nova-3', { keepAliveMs: 100 });
    async function* gap() { yield* await utteranceFrames(0, 100, 0); await sleep(600); yield* await utteranceFrames(600, 100, 300); }
    const events = await collect(stt.transcribe(gap()));
    expect(events.filter((e) => e.type === 'final')).toMatchObject([{ text: 'after the pause' }]);
    expect(gw.record.messages).toEqual([{ type: 'CloseStream' }]);
  });
});
