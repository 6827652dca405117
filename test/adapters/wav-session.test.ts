import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, realClock, tool, toneSynthesizer, writeWav, type AudioFrame, type Clock } from '../../src/index';
import { virtualSpeaker, wavFileInput } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, scriptedReplies, virtualClock } from '../../src/testing/index';

// A recorded caller: a question, a pause long enough for the answer, then goodbye. Fed to a
// session as docs/adapters.md shows, it must give the conversation a call would.
const dir = mkdtempSync(join(tmpdir(), 'voxline-wav-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

/** `leadMs` of silence, then for each part a voice-like tone of `ms` followed by `pauseMs` of silence. */
async function recording(path: string, leadMs: number, parts: { ms: number; pauseMs: number }[], rate = 16000): Promise<number> {
  const tone = (await toneSynthesizer({ sampleRate: rate, msPerChar: 1 })('x'.repeat(2000))).samples;
  const chunks: Int16Array[] = [new Int16Array((leadMs * rate) / 1000)];
  for (const p of parts) chunks.push(tone.slice(0, (p.ms * rate) / 1000), new Int16Array((p.pauseMs * rate) / 1000));
  const all = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  writeFileSync(path, writeWav(all, rate));
  return (all.length * 1000) / rate;
}

async function call(input: (clock: Clock) => AsyncIterable<AudioFrame>, clock: Clock) {
  const dg = new DeepgramEmulator({ script: ['What are your opening hours', 'Thanks goodbye'], clock });
  const oa = new OpenAiEmulator({
    timeToFirstTokenMs: 60,
    tokensPerSecond: 80,
    clock,
    responder: scriptedReplies([{ toolCalls: [{ name: 'opening_hours', arguments: {} }] }, 'We are open from nine to five.']),
  });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, clock });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  const ran: string[] = [];
  const openingHours = tool<Record<string, never>>({
    name: 'opening_hours',
    description: 'The opening hours',
    parameters: { type: 'object', properties: {} },
    execute: () => {
      ran.push('opening_hours');
      return { open: '09:00', close: '17:00' };
    },
  });
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    tools: [openingHours],
    hangUpPhrases: ['goodbye'],
    clock,
  });
  const closed: string[] = [];
  session.on('closed', (e) => closed.push(e.reason));
  const t0 = clock.now();
  await session.run({ input: input(clock), output: virtualSpeaker({ sampleRate: 16000, clock }) });
  return { session, ran, closed, ms: clock.now() - t0 };
}

function expectAnswered({ session, ran, closed }: Awaited<ReturnType<typeof call>>): void {
  expect(ran).toEqual(['opening_hours']);
  expect(session.transcript.map((e) => `${e.role}: ${e.text}`)).toEqual(['user: What are your opening hours', 'agent: We are open from nine to five.', 'user: Thanks goodbye']);
  expect(session.transcript.every((e) => e.at >= 0)).toBe(true);
  expect(session.transcript.map((e) => e.at)).toEqual([...session.transcript.map((e) => e.at)].sort((a, b) => a - b));
  expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
  expect(closed).toEqual(['hang-up']);
}

describe('a WAV file as a session input', () => {
  it('as docs/adapters.md shows, wavFileInput(path): the question is answered, the tool runs, the call lasts as long as the recording', async () => {
    const path = join(dir, 'question.wav');
    const duration = await recording(path, 300, [{ ms: 900, pauseMs: 2600 }, { ms: 600, pauseMs: 500 }]);
    const result = await call(() => wavFileInput(path), realClock);
    expectAnswered(result);
    expect(result.ms).toBeGreaterThan(duration - 700); // hung up on "goodbye", before the tail
  }, 20_000);

  it('read as fast as possible (realtime: false), the session holds it back to real time: the same conversation, on a virtual clock in a fraction of the time', async () => {
    const path = join(dir, 'fast.wav');
    await recording(path, 300, [{ ms: 900, pauseMs: 2600 }, { ms: 600, pauseMs: 500 }]);
    const wall = performance.now();
    const result = await call(() => wavFileInput(path, { realtime: false }), virtualClock());
    expectAnswered(result);
    expect(result.ms).toBeGreaterThan(3000); // on the clock: as long as the recording, less the second it may run ahead
    expect(performance.now() - wall).toBeLessThan(result.ms);
  }, 20_000);

  it('paced on a testing clock (the clock option), a file runs faster than real time with the timing of a call', async () => {
    const path = join(dir, 'clocked.wav');
    const duration = await recording(path, 300, [{ ms: 900, pauseMs: 2600 }, { ms: 600, pauseMs: 500 }]);
    const result = await call((clock) => wavFileInput(path, { clock }), virtualClock());
    expectAnswered(result);
    expect(result.ms).toBeGreaterThan(duration - 700);
    // The user's turn ends where the question's audio does (1.2 s into the recording), as on a call.
    expect(result.session.transcript[0]!.at).toBeCloseTo(1200, 0);
  }, 20_000);
});
