/**
 * Deepgram Aura (`/v1/speak`) against the official `@deepgram/sdk` 5.13 `speak.v1` types and
 * Deepgram's docs (tts-ws-flush, tts-ws-clear): compile-time checks of what DeepgramAuraTts reads
 * and sends and what AuraEmulator sends; the messages of a real run compared with typed reference
 * messages; and the docs' example messages replayed into the real client.
 */
import type { DefaultDeepgramClient, speak } from '@deepgram/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramAuraTts, toneSynthesizer, type AuraWarning } from '../../src/index';
import type { AuraServerWire } from '../../src/tts/aura';
import { AuraEmulator, type AuraEmulatedAck, type AuraEmulatedMetadata, type AuraEmulatedWarning } from '../../src/testing/index';
import { collect, sleep } from '../helpers';
import { replayWs } from './replay';
import { check, shapeProblems, type ReadsOfficial, type SendsOfficial } from './shape';

check<SendsOfficial<AuraEmulatedMetadata, speak.SpeakV1Metadata>>();
check<SendsOfficial<AuraEmulatedAck, speak.SpeakV1Flushed>>();
check<SendsOfficial<AuraEmulatedAck, speak.SpeakV1Cleared>>();
check<SendsOfficial<AuraEmulatedWarning, speak.SpeakV1Warning>>();
check<ReadsOfficial<Pick<AuraServerWire, 'type' | 'sequence_id'>, speak.SpeakV1Flushed>>();
check<ReadsOfficial<Pick<AuraServerWire, 'type' | 'sequence_id'>, speak.SpeakV1Cleared>>();
check<ReadsOfficial<Pick<AuraServerWire, 'type' | 'description' | 'code'>, speak.SpeakV1Warning>>();

type ConnectArgs = Parameters<DefaultDeepgramClient['speak']['v1']['connect']>[0];
const queryParams = { model: 1, encoding: 1, sample_rate: 1 } satisfies Partial<Record<keyof ConnectArgs, 1>>;
/** What the client sends, typed by the SDK's `sendText`/`sendFlush`/`sendClear`/`sendClose` arguments. */
const sent = {
  Speak: { type: 'Speak', text: 'Hello. ' } satisfies speak.SpeakV1Text,
  Flush: { type: 'Flush' } satisfies speak.SpeakV1Flush,
  Clear: { type: 'Clear' } satisfies speak.SpeakV1Clear,
  Close: { type: 'Close' } satisfies speak.SpeakV1Close,
};
/** Server messages: the docs' examples (tts-ws-flush, tts-ws-clear), and the SDK types' shapes. */
const docs = {
  Flushed: JSON.parse('{"type": "Flushed", "sequence_id": 0}') as speak.SpeakV1Flushed,
  Cleared: JSON.parse('{"type": "Cleared", "sequence_id": 0}') as speak.SpeakV1Cleared,
};
const refs = {
  Metadata: { type: 'Metadata', request_id: 'r1', model_name: 'aura-2-thalia-en', model_version: '2025-04-07.0', model_uuid: 'u1' } satisfies speak.SpeakV1Metadata,
  Warning: { type: 'Warning', description: 'Too many flushes', code: 'EXCESSIVE_FLUSH' } satisfies speak.SpeakV1Warning,
  ...docs,
};

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});
async function* chunks(...parts: string[]) { for (const p of parts) { yield p; await sleep(2); } }

describe('a real run, message by message', () => {
  it('the client sends SDK-typed messages and query parameters; the emulator answers with SDK-typed ones', async () => {
    const emu = new AuraEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 });
    await emu.start();
    cleanup = () => emu.close();
    const tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: emu.baseURL, sampleRate: 16000 });
    await collect(tts.synthesize(chunks('Hello.', 'How are you?')));
    const ac = new AbortController();
    await (async () => { for await (const _ of tts.synthesize(chunks('A reply cut off by a barge-in.'), { signal: ac.signal })) ac.abort(); })().catch(() => {});
    await collect(tts.synthesize(chunks('Next.')));
    await tts.close();
    await sleep(30);
    for (const m of emu.record.messages) expect(shapeProblems(m, sent[m.type as keyof typeof sent]), JSON.stringify(m)).toEqual([]);
    expect(emu.record.messages.map((m) => m.type)).toEqual(['Speak', 'Speak', 'Flush', 'Speak', 'Flush', 'Clear', 'Speak', 'Flush', 'Close']);
    for (const k of Object.keys(emu.record.connections[0]!.query)) expect(Object.keys(queryParams)).toContain(k);
  });

  it('the emulator’s text messages match the SDK-typed references', async () => {
    const emu = new AuraEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await emu.start();
    cleanup = () => emu.close();
    const got: Record<string, unknown>[] = [];
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${emu.baseURL.replace('http', 'ws')}/speak?encoding=linear16&sample_rate=16000`, { headers: { Authorization: 'Token dg' } });
    ws.on('message', (d, bin) => { if (!bin) got.push(JSON.parse(String(d)) as Record<string, unknown>); });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify(sent.Speak));
    ws.send(JSON.stringify(sent.Flush));
    while (!got.some((m) => m.type === 'Flushed')) await sleep(20);
    for (let i = 0; i < 20; i++) ws.send(JSON.stringify(sent.Flush)); // the 21st is one too many
    while (!got.some((m) => m.type === 'Warning')) await sleep(20);
    ws.send(JSON.stringify(sent.Clear));
    while (!got.some((m) => m.type === 'Cleared')) await sleep(20);
    ws.close();
    expect(new Set(got.map((m) => m.type))).toEqual(new Set(['Metadata', 'Flushed', 'Warning', 'Cleared']));
    for (const m of got) expect(shapeProblems(m, refs[m.type as keyof typeof refs]), JSON.stringify(m)).toEqual([]);
  });
});

describe('the docs’ messages, replayed into DeepgramAuraTts', () => {
  it('Metadata, audio, the Flushed of tts-ws-flush; Clear answered by the Cleared of tts-ws-clear; a Warning', async () => {
    const audio = Buffer.from(new Int16Array(480).fill(1000).buffer);
    const server = await replayWs((ws) => {
      ws.send(JSON.stringify(refs.Metadata));
      let flushes = 0;
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { type: string };
        if (m.type === 'Flush' && flushes++ === 0) {
          ws.send(audio);
          ws.send(JSON.stringify(refs.Warning));
          ws.send(JSON.stringify(docs.Flushed));
        } else if (m.type === 'Flush') ws.send(audio); // the second reply is cut before its Flushed
        if (m.type === 'Clear') ws.send(JSON.stringify(docs.Cleared));
      });
    });
    cleanup = server.close;
    const warnings: AuraWarning[] = [];
    const tts = new DeepgramAuraTts({ apiKey: 'dg', baseURL: server.baseURL, onWarning: (w) => warnings.push(w) });
    const frames = await collect(tts.synthesize(chunks('Hello.')));
    expect(frames.reduce((n, f) => n + f.samples.length, 0)).toBe(480);
    expect(warnings).toEqual([{ code: 'EXCESSIVE_FLUSH', description: 'Too many flushes' }]);
    const ac = new AbortController();
    await (async () => { for await (const _ of tts.synthesize(chunks('Cut.'), { signal: ac.signal })) ac.abort(); })().catch(() => {});
    await sleep(30);
    expect(server.received.at(-1)).toEqual(sent.Clear);
    await tts.close();
  });
});
