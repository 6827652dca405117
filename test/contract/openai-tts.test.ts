/**
 * OpenAI TTS (`POST /v1/audio/speech`) against the `openai` package 6.x types (`SpeechCreateParams`)
 * and OpenAI's API reference (Audio, "Stream Event (speech.audio.delta)" and "(speech.audio.done)",
 * whose examples are replayed here; the package does not type these events). The SSE framing is
 * read by the package's own `Stream` parser, in the client and here.
 */
import { Stream } from 'openai/core/streaming';
import type { SpeechCreateParams } from 'openai/resources/audio/speech';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiTts } from '../../src/index';
import type { SpeechStreamEvent } from '../../src/tts/openai';
import { OpenAiEmulator } from '../../src/testing/index';
import { collect } from '../helpers';
import { replaySse } from './replay';
import { check, shapeProblems } from './shape';

check<'sse' extends NonNullable<SpeechCreateParams['stream_format']> ? true : false>();
check<'audio' extends NonNullable<SpeechCreateParams['stream_format']> ? true : false>();
check<'pcm' extends NonNullable<SpeechCreateParams['response_format']> ? true : false>();

/** The API reference's examples, as data. */
const docs = {
  delta: { type: 'speech.audio.delta', audio: 'base64-encoded-audio-data' },
  done: { type: 'speech.audio.done', usage: { input_tokens: 14, output_tokens: 101, total_tokens: 115 } },
} satisfies Record<string, SpeechStreamEvent>;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});
async function* one(text: string) { yield text; }

describe('OpenAiTts and the speech endpoint', () => {
  it('sends only fields of the package’s SpeechCreateParams', async () => {
    const fields = { model: 1, input: 1, voice: 1, instructions: 1, response_format: 1, speed: 1, stream_format: 1 } satisfies Record<keyof SpeechCreateParams, 1>;
    const emu = new OpenAiEmulator({ apiKey: 'sk', speech: { timeToFirstAudioMs: 1 } });
    await emu.start();
    cleanup = () => emu.close();
    await collect(new OpenAiTts({ apiKey: 'sk', baseURL: emu.baseURL, instructions: 'Warm.', speed: 1.1, streamFormat: 'sse' }).synthesize(one('Hi.')));
    expect(Object.keys(emu.record.bodies[0] as object).sort()).toEqual(Object.keys(fields).sort());
  });

  it('replays the API reference’s speech.audio.delta and speech.audio.done events', async () => {
    const server = await replaySse([docs.delta, docs.done], { done: false });
    cleanup = server.close;
    const frames = await collect(new OpenAiTts({ apiKey: 'sk', baseURL: server.baseURL, streamFormat: 'sse' }).synthesize(one('Hi.')));
    const bytes = Buffer.from(docs.delta.audio, 'base64');
    const expected = new Int16Array(Uint8Array.from(bytes.subarray(0, bytes.length - (bytes.length % 2))).buffer);
    expect(frames.flatMap((f) => [...f.samples])).toEqual([...expected]);
    expect(server.bodies[0]).toMatchObject({ stream_format: 'sse', response_format: 'pcm' });
  });

  it('the emulator’s events have the shapes of the API reference’s', async () => {
    const emu = new OpenAiEmulator({ apiKey: 'sk', speech: { timeToFirstAudioMs: 1 } });
    await emu.start();
    cleanup = () => emu.close();
    const res = await fetch(`${emu.baseURL}/audio/speech`, { method: 'POST', headers: { authorization: 'Bearer sk', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hi there.', response_format: 'pcm', stream_format: 'sse' } satisfies SpeechCreateParams) });
    const events: SpeechStreamEvent[] = [];
    for await (const ev of Stream.fromSSEResponse<SpeechStreamEvent>(res, new AbortController())) events.push(ev);
    expect(events.at(-1)!.type).toBe('speech.audio.done');
    for (const ev of events) expect(shapeProblems(ev, ev.type === 'speech.audio.delta' ? docs.delta : docs.done)).toEqual([]);
  });
});
