/**
 * ElevenLabs `stream-input` and `multi-stream-input` against the official `@elevenlabs/elevenlabs-js`
 * 2.73 types and schemas: compile-time checks of what ElevenLabsTts reads and ElevenLabsEmulator
 * sends against the SDK's wire (`serialization`) types; every message the client sends and the
 * emulator sends, recorded from real runs, parsed by the SDK's own schemas with unknown keys
 * refused; and the example conversations of ElevenLabs' AsyncAPI definitions (the Fern definition
 * the SDKs are generated from, elevenlabs/elevenlabs-python `.mock/definition/`) replayed into the
 * real client.
 */
import type * as S from '@elevenlabs/elevenlabs-js/serialization';
import * as schemas from '@elevenlabs/elevenlabs-js/serialization/index.js';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ElevenLabsTts, toneSynthesizer, type TtsFrame, type VoiceSettings } from '../../src/index';
import type { ElevenLabsAlignmentWire, ElevenLabsServerWire } from '../../src/tts/elevenlabs';
import { ElevenLabsEmulator, type EmulatedAudio, type EmulatedFinal } from '../../src/testing/index';
import { collect, sleep } from '../helpers';
import { replayWs } from './replay';
import { check, type ReadsOfficial, type SendsOfficial } from './shape';

// What the emulator sends is a valid SDK message, field for field.
check<SendsOfficial<EmulatedAudio, S.AudioOutputMulti.Raw>>();
check<SendsOfficial<Omit<EmulatedAudio, 'contextId'>, S.AudioOutput.Raw>>();
check<SendsOfficial<EmulatedFinal, S.FinalOutputMulti.Raw>>();
check<SendsOfficial<Omit<EmulatedFinal, 'contextId'>, S.FinalOutput.Raw>>();
// What the client reads is what the SDK declares, under the same names (older spellings aside).
type Current<A> = Omit<A, 'charsDurationsMs' | 'char_start_times_ms' | 'chars_durations_ms'>;
check<ReadsOfficial<Current<ElevenLabsAlignmentWire>, S.Alignment.Raw>>();
check<ReadsOfficial<Current<ElevenLabsAlignmentWire>, S.NormalizedAlignment.Raw>>();
check<ReadsOfficial<Pick<ElevenLabsServerWire, 'audio' | 'contextId'>, S.AudioOutputMulti.Raw>>();
check<ReadsOfficial<Pick<ElevenLabsServerWire, 'audio'>, S.AudioOutput.Raw>>();
check<ReadsOfficial<Pick<ElevenLabsServerWire, 'isFinal' | 'contextId'>, S.FinalOutputMulti.Raw>>();
check<ReadsOfficial<Pick<ElevenLabsServerWire, 'isFinal'>, S.FinalOutput.Raw>>();
check<ReadsOfficial<Pick<ElevenLabsServerWire, 'audio' | 'is_final' | 'contextId'>, S.WebsocketTtsServerMessageMulti.Raw>>();
// The voice settings option is sent as it is.
check<SendsOfficial<VoiceSettings, S.RealtimeVoiceSettings.Raw>>();

type Schema = { parse(raw: unknown, opts: { unrecognizedObjectKeys: 'fail' }): { ok: boolean; errors?: unknown } };
/** Parses with the SDK's schema, refusing any key it does not know; returns the errors. */
function problems(schema: Schema, msg: unknown): unknown[] {
  const r = schema.parse(msg, { unrecognizedObjectKeys: 'fail' });
  return r.ok ? [] : (r.errors as unknown[]);
}

/** The SDK schema of a message voxline's client sends (the union members of sendMessage / sendMessageMulti). */
function clientSchema(msg: Record<string, unknown>, multi: boolean): Schema {
  if (!multi) return msg.text === ' ' ? schemas.InitializeConnection : msg.text === '' ? schemas.CloseConnection : schemas.SendText;
  if (msg.close_socket !== undefined) return schemas.CloseSocket;
  if (msg.close_context !== undefined) return schemas.CloseContext;
  if (msg.text === ' ') return schemas.InitializeConnectionMulti;
  if (msg.text === '') return schemas.KeepContextAlive;
  if (msg.flush !== undefined) return schemas.FlushContext;
  return schemas.SendTextMulti;
}

let emu: ElevenLabsEmulator | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await emu?.close();
  await cleanup?.();
  emu = undefined;
  cleanup = undefined;
});

async function* chunks(...parts: string[]) { for (const p of parts) { yield p; await sleep(5); } }
const heard = (frames: TtsFrame[]) => frames.flatMap((f) => f.alignment?.chars ?? []).join('');

describe.each([true, false])('every message of a real run is an SDK message (multiContext: %s)', (multiContext) => {
  it('client messages parse with the SDK schemas: settings, text, flush, keep-alive, barge-in, close', async () => {
    emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5, realtimeFactor: 0.2 });
    await emu.start();
    const tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: emu.baseURL, outputFormat: 'pcm_16000', multiContext, voiceSettings: { stability: 0.5, speed: 1.1 }, chunkLengthSchedule: [50, 120], inactivityTimeoutSec: 0.3 });
    async function* pause() { yield 'Before a pause.'; await sleep(400); yield 'And'; yield ' raw'; yield ' toke'; yield 'ns.'; }
    await collect(tts.synthesize(pause()));
    const ac = new AbortController();
    await (async () => { for await (const _ of tts.synthesize(chunks('A reply that is cut off by a barge-in after its first audio.'), { signal: ac.signal })) ac.abort(); })().catch(() => {});
    await tts.close();
    await sleep(50);
    const bad = emu.record.messages.flatMap((m) => problems(clientSchema(m, multiContext), m).map((p) => ({ m, p })));
    expect(bad).toEqual([]);
    expect(emu.record.messages.some((m) => (multiContext ? m.text === '' && m.context_id : m.text === ' ' && !('voice_settings' in m)))).toBe(true); // a keep-alive was sent
  });

  it('emulator messages parse with the SDK schemas, alignment included', async () => {
    emu = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    await emu.start();
    const path = `/text-to-speech/v/${multiContext ? 'multi-stream-input' : 'stream-input'}?output_format=pcm_16000`;
    const ws = new WebSocket(`${emu.baseURL.replace('http', 'ws')}${path}`, { headers: { 'xi-api-key': 'xi' } });
    const got: Record<string, unknown>[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    const ctx = multiContext ? { context_id: 'c1' } : {};
    ws.send(JSON.stringify({ text: ' ', ...ctx }));
    ws.send(JSON.stringify({ text: 'Hello there. ', flush: true, ...ctx }));
    ws.send(JSON.stringify(multiContext ? { context_id: 'c1', close_context: true } : { text: '' }));
    while (!got.some((m) => m.isFinal)) await sleep(20);
    ws.close();
    const audio = multiContext ? schemas.AudioOutputMulti : schemas.AudioOutput;
    const final = multiContext ? schemas.FinalOutputMulti : schemas.FinalOutput;
    expect(got.flatMap((m) => problems(m.isFinal ? final : audio, m))).toEqual([]);
    expect(got.filter((m) => m.audio).length).toBeGreaterThan(0);
  });
});

describe('the AsyncAPI examples, replayed into ElevenLabsTts', () => {
  // elevenlabs/elevenlabs-python .mock/definition/v1TextToSpeechVoiceIdMultiStreamInput.yml
  // (commit c8ad7e7d), `examples[0].messages`, server messages; the audio is the example's
  // ("curious minds think alike :)", 28 bytes), the context id is the one the client chose.
  const exampleAudio = 'Y3VyaW91cyBtaW5kcyB0aGluayBhbGlrZSA6KQ==';
  const exampleAlignment = {
    charStartTimesMs: [0, 3, 7, 9, 11, 12, 13, 15, 17, 19, 21],
    charsDurationsMs: [3, 4, 2, 2, 1, 1, 2, 2, 2, 2, 3],
    chars: ['H', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'],
  };

  it('multi-stream-input: audio with charsDurationsMs and context_id, then isFinal with context_id', async () => {
    const server = await replayWs((ws) => {
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>;
        const id = m.context_id;
        if (m.flush === true) ws.send(JSON.stringify({ audio: exampleAudio, normalizedAlignment: exampleAlignment, alignment: exampleAlignment, context_id: id }));
        if (m.close_context === true) {
          ws.send(JSON.stringify({ audio: exampleAudio, context_id: id }));
          ws.send(JSON.stringify({ isFinal: true, context_id: id }));
        }
      });
    });
    cleanup = server.close;
    const tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: server.baseURL });
    const frames = await collect(tts.synthesize(chunks('Hello world.')));
    await tts.close();
    await sleep(30);
    expect(heard(frames)).toBe('Hello world');
    expect(frames[0]!.alignment!.durationsMs).toEqual(exampleAlignment.charsDurationsMs);
    expect(frames.map((f) => f.samples.length)).toEqual([14, 14]);
    // The client's side of the example: init, text with flush (the SDK's SendTextMulti and FlushContext both carry text and flush), close_context, each an SDK message.
    expect(server.received.map((m) => Object.keys(m).sort().join(','))).toEqual(['context_id,text', 'context_id,flush,text', 'close_context,context_id', 'close_socket']);
    expect(server.received.flatMap((m) => problems(clientSchema(m, true), m))).toEqual([]);
    expect(problems(schemas.SendTextMulti, server.received[1])).toEqual([]); // text with flush is the SDK's SendTextMulti too
  });

  it('the SDK’s current spelling (charDurationsMs, contextId) and the examples’ is_final', async () => {
    const alignment = { chars: [...'Hi. '], charStartTimesMs: [0, 50, 100, 120], charDurationsMs: [50, 50, 20, 30] } satisfies S.Alignment.Raw;
    const server = await replayWs((ws) => {
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { context_id?: string; flush?: boolean; close_context?: boolean };
        const contextId = m.context_id!;
        if (m.flush) ws.send(JSON.stringify({ audio: exampleAudio, alignment, normalizedAlignment: alignment, contextId } satisfies S.AudioOutputMulti.Raw));
        if (m.close_context) ws.send(JSON.stringify({ is_final: true, contextId } satisfies S.WebsocketTtsServerMessageMulti.Raw));
      });
    });
    cleanup = server.close;
    const tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: server.baseURL });
    const frames = await collect(tts.synthesize(chunks('Hi.')));
    await tts.close();
    expect(frames.map((f) => f.alignment)).toEqual([{ chars: alignment.chars, startMs: alignment.charStartTimesMs, durationsMs: alignment.charDurationsMs }]);
  });

  it('stream-input: audio with snake_case alignment (char_start_times_ms, chars_durations_ms), then isFinal', async () => {
    // elevenlabs/elevenlabs-python .mock/definition/v1TextToSpeechVoiceIdStreamInput.yml (commit
    // 27242987), examples[0]: the server message; the FinalOutput after it is the SDK type's.
    const snake = { char_start_times_ms: exampleAlignment.charStartTimesMs, chars_durations_ms: exampleAlignment.charsDurationsMs, chars: exampleAlignment.chars };
    const server = await replayWs((ws) => {
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>;
        if (m.text !== '') return;
        ws.send(JSON.stringify({ audio: exampleAudio, normalizedAlignment: snake, alignment: snake }));
        ws.send(JSON.stringify({ isFinal: true } satisfies S.FinalOutput.Raw));
      });
    });
    cleanup = server.close;
    const tts = new ElevenLabsTts({ apiKey: 'xi', voiceId: 'v', baseURL: server.baseURL, multiContext: false });
    const frames = await collect(tts.synthesize(chunks('Hello world.')));
    await tts.close();
    expect(heard(frames)).toBe('Hello world');
    expect(frames[0]!.alignment!.startMs).toEqual(exampleAlignment.charStartTimesMs);
    expect(frames[0]!.alignment!.durationsMs).toEqual(exampleAlignment.charsDurationsMs);
    expect(server.received.flatMap((m) => problems(clientSchema(m, false), m))).toEqual([]);
  });
});
