/**
 * Deepgram live STT (`/v1/listen`) against the official `@deepgram/sdk` types and docs:
 * - compile time (npm test's tsc step): what DeepgramStt reads and what DeepgramEmulator sends
 *   are the official message types, field for field;
 * - run time: every message the emulator sends has the shape of the official doc examples, and
 *   the doc examples replayed into DeepgramStt give the expected events.
 */
import type { DefaultDeepgramClient, listen } from '@deepgram/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, type SttEvent } from '../../src/index';
import type { DeepgramResultsWire, DeepgramSpeechStartedWire, DeepgramUtteranceEndWire } from '../../src/stt/deepgram-wire';
import { DeepgramEmulator } from '../../src/testing/index';
import type { metadataMessage, resultsMessage, speechStartedMessage, utteranceEndMessage } from '../../src/testing/deepgram-messages';
import { collect, paced, sleep, utteranceFrames } from '../helpers';
import { replayWs } from './replay';
import { check, shapeProblems, type ReadsOfficial, type SendsOfficial } from './shape';

// What the client reads is what the SDK declares.
check<ReadsOfficial<DeepgramResultsWire, listen.ListenV1Results>>();
check<ReadsOfficial<DeepgramSpeechStartedWire, listen.ListenV1SpeechStarted>>();
check<ReadsOfficial<DeepgramUtteranceEndWire, listen.ListenV1UtteranceEnd>>();
// What the emulator sends is what the SDK declares (no field the SDK lacks).
check<SendsOfficial<ReturnType<typeof resultsMessage>, listen.ListenV1Results>>();
check<SendsOfficial<ReturnType<typeof speechStartedMessage>, listen.ListenV1SpeechStarted>>();
check<SendsOfficial<ReturnType<typeof utteranceEndMessage>, listen.ListenV1UtteranceEnd>>();
check<SendsOfficial<ReturnType<typeof metadataMessage>, listen.ListenV1Metadata>>();

/**
 * Doc examples, copied as data. Results: the Python SDK's captured fixture
 * (tests/response_data/listen/websocket/ed5bfd…-response.json, PROTOCOLS.md 1.5); Metadata: the
 * Close Stream doc (developers.deepgram.com/docs/close-stream); SpeechStarted / UtteranceEnd: the
 * shapes of developers.deepgram.com/docs/speech-started and /docs/utterance-end.
 */
const docs = {
  Results: {
    type: 'Results', channel_index: [0, 1], duration: 1.73, start: 5.9, is_final: true, speech_final: true, from_finalize: false,
    channel: {
      alternatives: [{
        transcript: 'Ensure domestic tranquility.', confidence: 0.9897461,
        words: [
          { word: 'ensure', start: 6.251818, end: 6.6427274, confidence: 0.9897461, punctuated_word: 'Ensure' },
          { word: 'domestic', start: 6.6427274, end: 7.1427274, confidence: 0.99658203, punctuated_word: 'domestic' },
          { word: 'tranquility', start: 7.19, end: 7.4245453, confidence: 0.9248047, punctuated_word: 'tranquility.' },
        ],
      }],
    },
    metadata: { request_id: '4b21fb93-0ece-46c8-a7c8-05709d2119dc', model_uuid: '1ed36bac-f71c-4f3f-a31f-02fd6525c489', model_info: { name: 'general', version: '2024-01-26.8851', arch: 'base' } },
  } satisfies listen.ListenV1Results,
  Metadata: {
    type: 'Metadata', transaction_key: 'deprecated', request_id: '8c8ebea9-dbec-45fa-a035-e4632cb05b5f',
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', created: '2024-08-29T22:37:55.202Z', duration: 0.0, channels: 0,
  } satisfies listen.ListenV1Metadata,
  SpeechStarted: { type: 'SpeechStarted', channel: [0], timestamp: 5.9 } satisfies listen.ListenV1SpeechStarted,
  UtteranceEnd: { type: 'UtteranceEnd', channel: [0, 1], last_word_end: 7.4245453 } satisfies listen.ListenV1UtteranceEnd,
};
const interim = { ...docs.Results, duration: 1.0, is_final: false, speech_final: false, channel: { alternatives: [{ ...docs.Results.channel.alternatives[0]!, transcript: 'Ensure domestic', words: docs.Results.channel.alternatives[0]!.words.slice(0, 2) }] } } satisfies listen.ListenV1Results;
const fromFinalize = { ...docs.Results, speech_final: false, from_finalize: true } satisfies listen.ListenV1Results;
// Control messages the client sends, as the SDK types them.
const control = { keepAlive: { type: 'KeepAlive' }, finalize: { type: 'Finalize' }, closeStream: { type: 'CloseStream' } } satisfies Record<string, listen.ListenV1KeepAlive | listen.ListenV1Finalize | listen.ListenV1CloseStream>;
type V1ConnectArgs = Parameters<DefaultDeepgramClient['listen']['v1']['connect']>[0];
// Query parameters the client may send: each must be a connect argument of the SDK.
const queryParams = { model: 1, encoding: 1, sample_rate: 1, channels: 1, interim_results: 1, endpointing: 1, utterance_end_ms: 1, vad_events: 1, smart_format: 1, punctuate: 1, language: 1, keyterm: 1, diarize: 1 } satisfies Partial<Record<keyof V1ConnectArgs, 1>>;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('DeepgramEmulator sends the official shapes', () => {
  it('every message of a conversation has the shape of its doc example', async () => {
    const emu = new DeepgramEmulator({ script: ['Ensure domestic tranquility.'] });
    await emu.start();
    cleanup = () => emu.close();
    const seen: Record<string, unknown>[] = [];
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${emu.listenUrl}?model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true&utterance_end_ms=1000&vad_events=true`, { headers: { Authorization: 'Token k' } });
    ws.on('message', (d) => seen.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise((r) => ws.on('open', r));
    for await (const f of paced(await utteranceFrames(1200, 200, 1300))) ws.send(f.samples);
    ws.send(JSON.stringify(control.closeStream));
    await new Promise((r) => ws.on('close', r));
    expect(new Set(seen.map((m) => m.type))).toEqual(new Set(['SpeechStarted', 'Results', 'UtteranceEnd', 'Metadata']));
    for (const m of seen) expect(shapeProblems(m, docs[m.type as keyof typeof docs]), String(m.type)).toEqual([]);
  });
});

describe('DeepgramStt against the official messages', () => {
  it('turns the doc examples into interim, final, speech-started and utterance-end events', async () => {
    const server = await replayWs((ws) => {
      for (const m of [docs.SpeechStarted, interim, docs.Results, docs.UtteranceEnd]) ws.send(JSON.stringify(m));
      ws.on('message', (d, bin) => {
        if (!bin && String(d) === JSON.stringify(control.closeStream)) {
          ws.send(JSON.stringify(docs.Metadata));
          ws.close(1000);
        }
      });
    });
    cleanup = server.close;
    const stt = new DeepgramStt({ apiKey: 'k', baseURL: server.baseURL, keyterms: ['tranquility'], query: { diarize: true } });
    async function* audio() { yield* await utteranceFrames(0, 300, 0); await sleep(200); }
    const events = await collect(stt.transcribe(audio()));
    expect(events).toEqual<SttEvent[]>([
      { type: 'speech_started', timestamp: 5.9 },
      { type: 'interim', text: 'Ensure domestic', words: [{ word: 'Ensure', start: 6.251818, end: 6.6427274, confidence: 0.9897461 }, { word: 'domestic', start: 6.6427274, end: 7.1427274, confidence: 0.99658203 }] },
      {
        type: 'final', text: 'Ensure domestic tranquility.', endOfTurn: true, start: 5.9, end: 5.9 + 1.73,
        words: [{ word: 'Ensure', start: 6.251818, end: 6.6427274, confidence: 0.9897461 }, { word: 'domestic', start: 6.6427274, end: 7.1427274, confidence: 0.99658203 }, { word: 'tranquility.', start: 7.19, end: 7.4245453, confidence: 0.9248047 }],
      },
      { type: 'utterance_end', lastWordEnd: 7.4245453 },
    ]);
    expect(server.received).toEqual([control.closeStream]);
    for (const k of server.query[0]!.keys()) expect(Object.keys(queryParams), k).toContain(k);
  });

  it('sends Finalize and takes the from_finalize result as a final that does not end the turn', async () => {
    const server = await replayWs((ws) => {
      ws.on('message', (d, bin) => {
        if (bin) return;
        const m = JSON.parse(String(d)) as { type: string };
        if (m.type === 'Finalize') ws.send(JSON.stringify(fromFinalize));
        if (m.type === 'CloseStream') ws.close(1000);
      });
    });
    cleanup = server.close;
    const t = new DeepgramStt({ apiKey: 'k', baseURL: server.baseURL }).transcribe(paced(await utteranceFrames(0, 600, 0)));
    setTimeout(() => t.finalize(), 200);
    const events = await collect(t);
    expect(events).toMatchObject([{ type: 'final', text: 'Ensure domestic tranquility.', endOfTurn: false }]);
    expect(server.received).toEqual([control.finalize, control.closeStream]);
  });

  it('sends KeepAlive as a text frame of the SDK shape', async () => {
    const server = await replayWs((ws) => ws.on('message', (d, bin) => !bin && JSON.parse(String(d)).type === 'CloseStream' && ws.close(1000)));
    cleanup = server.close;
    async function* gap() { yield* await utteranceFrames(0, 100, 0); await sleep(700); }
    await collect(new DeepgramStt({ apiKey: 'k', baseURL: server.baseURL, keepAliveMs: 100 }).transcribe(gap()));
    expect(server.received.length).toBeGreaterThan(1);
    expect(server.received.slice(0, -1).every((m) => JSON.stringify(m) === JSON.stringify(control.keepAlive))).toBe(true);
    expect(server.received.at(-1)).toEqual(control.closeStream);
  });

  // Found when a loaded CI run failed the test above: the KeepAlive timer went on after
  // CloseStream while the server took its time to close.
  it('sends no KeepAlive after CloseStream, however long the server takes to close', async () => {
    const server = await replayWs((ws) => ws.on('message', (d, bin) => !bin && JSON.parse(String(d)).type === 'CloseStream' && setTimeout(() => ws.close(1000), 600)));
    cleanup = server.close;
    async function* gap() { yield* await utteranceFrames(0, 100, 0); await sleep(300); }
    await collect(new DeepgramStt({ apiKey: 'k', baseURL: server.baseURL, keepAliveMs: 100 }).transcribe(gap()));
    expect(server.received.at(-1)).toEqual(control.closeStream);
    expect(server.received.filter((m) => JSON.stringify(m) === JSON.stringify(control.closeStream))).toHaveLength(1);
  });
});
