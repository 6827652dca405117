/**
 * The contract of CartesiaTts and CartesiaEmulator with Cartesia's official SDK
 * (`@cartesia/cartesia-js`, a devDependency): the wire types voxline writes and parses are checked
 * against the SDK's published types by `tsc` (the typecheck step of `npm test` covers test/), and
 * at run time the official SDK's own WebSocket client talks to the emulator.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationRequest, WebsocketClientEvent, WebsocketResponse, WordTimestamps } from '@cartesia/cartesia-js/resources/tts';
import { CartesiaTts, toneSynthesizer } from '../../src/index';
import type { CartesiaCancelRequest, CartesiaChunk, CartesiaDone, CartesiaErrorMessage, CartesiaFlushDone, CartesiaGenerationRequest, CartesiaServerMessage, CartesiaTimestamps, CartesiaWordTimestamps } from '../../src/tts/cartesia';
import { CartesiaEmulator } from '../../src/testing/index';
import { collect } from '../helpers';

// ---- Type-level contract: drift in the SDK's types fails `tsc`. ----
type Is<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function check<T extends true>(): T | undefined {
  return undefined;
}

// What the emulator sends is what the SDK says the server sends...
check<Is<CartesiaChunk, WebsocketResponse.Chunk>>();
check<Is<CartesiaTimestamps, WebsocketResponse.Timestamps>>();
check<Is<CartesiaFlushDone, WebsocketResponse.FlushDone>>();
check<Is<CartesiaDone, WebsocketResponse.Done>>();
check<Is<CartesiaErrorMessage, WebsocketResponse.Error>>();
check<Same<CartesiaWordTimestamps, WordTimestamps>>();
// ...and the client parses every message the SDK declares (phoneme timestamps, never asked for, are ignored).
check<Is<WebsocketResponse.Chunk, CartesiaChunk>>();
check<Is<WebsocketResponse.Timestamps, CartesiaTimestamps>>();
check<Is<WebsocketResponse.FlushDone, CartesiaFlushDone>>();
check<Is<WebsocketResponse.Done, CartesiaDone>>();
check<Is<WebsocketResponse.Error, CartesiaErrorMessage>>();
check<Same<CartesiaServerMessage['type'], Exclude<WebsocketResponse['type'], 'phoneme_timestamps'>>>();
// What the client sends is what the SDK sends. `language` and `generation_config.emotion` are free
// strings in voxline (a new language or emotion needs no release); every other field must match.
check<Is<Omit<CartesiaGenerationRequest, 'language' | 'generation_config'>, Omit<GenerationRequest, 'language' | 'generation_config'>>>();
check<Is<keyof CartesiaGenerationRequest, keyof GenerationRequest>>();
check<Is<Omit<NonNullable<CartesiaGenerationRequest['generation_config']>, 'emotion'>, Omit<NonNullable<GenerationRequest['generation_config']>, 'emotion'>>>();
check<Is<NonNullable<GenerationRequest['language']>, NonNullable<CartesiaGenerationRequest['language']>>>();
check<Same<CartesiaCancelRequest, WebsocketClientEvent.CancelContextRequest>>();

// ---- Keys, for the run-time checks below; `satisfies` and `Same` keep them equal to the SDK's. ----
const requestKeys = ['context_id', 'model_id', 'output_format', 'transcript', 'voice', 'add_phoneme_timestamps', 'add_timestamps', 'continue', 'flush', 'generation_config', 'language', 'locale', 'max_buffer_delay_ms', 'normalization', 'pronunciation_dict_id', 'speed', 'use_normalized_timestamps'] as const satisfies readonly (keyof GenerationRequest)[];
check<Same<(typeof requestKeys)[number], keyof GenerationRequest>>();
const responseKeys = {
  chunk: ['type', 'context_id', 'data', 'done', 'status_code', 'step_time', 'flush_id', 'audio'] as const satisfies readonly (keyof WebsocketResponse.Chunk)[],
  timestamps: ['type', 'context_id', 'done', 'status_code', 'flush_id', 'word_timestamps'] as const satisfies readonly (keyof WebsocketResponse.Timestamps)[],
  flush_done: ['type', 'context_id', 'done', 'flush_done', 'flush_id', 'status_code'] as const satisfies readonly (keyof WebsocketResponse.FlushDone)[],
  done: ['type', 'context_id', 'done', 'status_code'] as const satisfies readonly (keyof WebsocketResponse.Done)[],
  error: ['type', 'title', 'message', 'status_code', 'context_id', 'doc_url', 'done', 'error_code', 'request_id'] as const satisfies readonly (keyof WebsocketResponse.Error)[],
};
check<Same<(typeof responseKeys.chunk)[number], keyof WebsocketResponse.Chunk>>();
check<Same<(typeof responseKeys.timestamps)[number], keyof WebsocketResponse.Timestamps>>();
check<Same<(typeof responseKeys.flush_done)[number], keyof WebsocketResponse.FlushDone>>();
check<Same<(typeof responseKeys.done)[number], keyof WebsocketResponse.Done>>();
check<Same<(typeof responseKeys.error)[number], keyof WebsocketResponse.Error>>();

// The SDK's ESM build looks for `ws` with `require`, which ESM lacks: load its CommonJS build.
const { Cartesia } = createRequire(import.meta.url)('@cartesia/cartesia-js') as typeof import('@cartesia/cartesia-js');

let emu: CartesiaEmulator | undefined;
afterEach(async () => { await emu?.close(); emu = undefined; });

describe('Cartesia contract with @cartesia/cartesia-js', () => {
  it("the official SDK's WebSocket client speaks with the emulator: continuations, flush, timestamps, done, cancel", async () => {
    emu = new CartesiaEmulator({ apiKey: 'sk_car_sdk', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 });
    await emu.start();
    const port = Number(new URL(emu.httpUrl).port);
    const client = new Cartesia({ apiKey: 'sk_car_sdk', baseURL: emu.httpUrl });
    // The SDK always dials wss://; hand it a plain TCP socket to the local emulator instead.
    const ws = await client.tts.websocket({ createConnection: () => connect({ host: '127.0.0.1', port }) });
    const errors: unknown[] = [];
    ws.on('error', (e) => errors.push(e));
    try {
      const ctx = ws.context({ model_id: 'sonic-3', voice: { mode: 'id', id: 'v1' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 }, add_timestamps: true });
      await ctx.push({ transcript: 'Hello there, ' });
      await ctx.push({ transcript: 'from the official client.', flush: true });
      await ctx.no_more_inputs();
      const events: WebsocketResponse[] = [];
      for await (const ev of ctx.receive({ timeout: 5000 })) events.push(ev);
      const types = events.map((e) => e.type);
      expect(types.at(-1)).toBe('done');
      expect(types).toContain('chunk');
      expect(types).toContain('flush_done');
      const words = events.flatMap((e) => (e.type === 'timestamps' ? e.word_timestamps?.words ?? [] : []));
      expect(words).toEqual(['Hello', 'there', 'from', 'the', 'official', 'client']);
      const audio = events.flatMap((e) => (e.type === 'chunk' && e.audio ? [e.audio.length] : [])).reduce((a, b) => a + b, 0);
      expect(audio / 2 / 16000).toBeCloseTo(('Hello there,from the official client.'.length * 65) / 1000, 1);
      // every message has exactly the keys the SDK declares for its type, the required ones included
      for (const e of events) {
        const allowed: readonly string[] = responseKeys[e.type as keyof typeof responseKeys];
        expect(allowed, e.type).toBeDefined();
        expect(Object.keys(e).filter((k) => !allowed.includes(k))).toEqual([]);
      }
      for (const e of events.filter((x) => x.type === 'chunk')) expect(Object.keys(e)).toEqual(expect.arrayContaining(['type', 'context_id', 'data', 'done', 'status_code', 'step_time']));
      // The SDK's handshake and inputs are accepted as they are.
      expect(emu.record.connections[0]!.headers.authorization).toBe('Bearer sk_car_sdk');
      expect(emu.record.connections[0]!.headers['cartesia-version']).toBeTruthy();
      // cancel: the SDK's cancel message stops the context
      const second = ws.context({ model_id: 'sonic-3', voice: { mode: 'id', id: 'v1' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 } });
      await second.push({ transcript: 'A long sentence that is cancelled before it is over.' });
      await second.cancel();
      await new Promise((r) => setTimeout(r, 50));
      expect(emu.openContexts).toBe(0);
      expect(emu.record.messages.at(-1)).toEqual({ cancel: true, context_id: second.contextId });
      expect(errors).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it("voxline's client sends only fields the SDK declares, with the SDK's required ones", async () => {
    emu = new CartesiaEmulator({ apiKey: 'k', synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.1 });
    await emu.start();
    const tts = new CartesiaTts({ apiKey: 'k', voiceId: 'v', baseURL: emu.baseURL, language: 'en', maxBufferDelayMs: 0, generationConfig: { speed: 1 } });
    const ac = new AbortController();
    let n = 0;
    await collect(tts.synthesize((async function* () { yield 'One sentence.'; yield 'Another one.'; })()));
    await (async () => { for await (const _ of tts.synthesize((async function* () { yield 'A reply interrupted at once.'; })(), { signal: ac.signal })) if (++n === 1) ac.abort(); })().catch(() => {});
    expect(n).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    await tts.close();
    const inputs = emu.record.messages.filter((m) => 'transcript' in m);
    expect(inputs.length).toBeGreaterThan(2);
    for (const m of inputs) {
      expect(Object.keys(m).filter((k) => !(requestKeys as readonly string[]).includes(k))).toEqual([]);
      expect(Object.keys(m)).toEqual(expect.arrayContaining(['context_id', 'model_id', 'output_format', 'transcript', 'voice']));
    }
    const cancels = emu.record.messages.filter((m) => 'cancel' in m);
    expect(cancels.length).toBe(1);
    expect(Object.keys(cancels[0]!).sort()).toEqual(['cancel', 'context_id']);
  });
});
