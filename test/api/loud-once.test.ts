import { afterEach, describe, expect, it } from 'vitest';
import { AuthError, DeepgramStt, DeviceError, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer, type AudioFrame } from '../../src/index';
import { virtualSpeaker, type AudioOutput } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock } from '../../src/testing/index';

// A failure is reported once: on the `error` event, or with nobody listening, either by run()'s
// rejection (a fatal one) or by the logger (one the call recovers from), never both.
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

interface Setup {
  sttKey?: string;
  llmKey?: string;
  ttsKey?: string;
  llmRefuses?: boolean;
  output?: (clock: ReturnType<typeof virtualClock>) => AudioOutput;
  listen?: boolean;
}

async function call(setup: Setup) {
  const clock = virtualClock();
  const dg = new DeepgramEmulator({ script: ['Hello there'], apiKey: 'right', clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20, apiKey: 'right', clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20, apiKey: 'right', clock });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  if (setup.llmRefuses) oa.inject({ refuse: { count: 5, status: 500 } });
  const warned: string[] = [];
  const heard: unknown[] = [];
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: setup.sttKey ?? 'right', baseURL: dg.baseURL, maxReconnects: 0 }),
    llm: new OpenAiLlm({ apiKey: setup.llmKey ?? 'right', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: setup.ttsKey ?? 'right', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    logger: { warn: (m) => warned.push(m) },
    clock,
  });
  if (setup.listen) session.on('error', (e) => heard.push(e));
  const caller = new ScriptedCaller({ lines: ['Hello there'], synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  const output = setup.output?.(clock) ?? virtualSpeaker({ sampleRate: 16000, clock });
  const outcome = await session.run({ input: caller.input(session, 600), output }).then(() => undefined, (e: unknown) => e);
  return { outcome, warned, heard };
}

/** An output whose device is gone: every write throws. */
function brokenOutput(): AudioOutput {
  return {
    sampleRate: 16000,
    playedMs: 0,
    writtenMs: 0,
    async write(_frame: AudioFrame) {
      throw new Error('EIO: the device was unplugged');
    },
    clear() {},
    async drain() {},
    async close() {},
  };
}

describe('with no error listener, a failure is reported once', () => {
  it.each([
    ['the STT refuses its key', { sttKey: 'wrong' }, AuthError],
    ['the LLM refuses its key', { llmKey: 'wrong' }, AuthError],
    ['the TTS refuses its key', { ttsKey: 'wrong' }, AuthError],
    ['the output fails', { output: brokenOutput }, DeviceError],
  ] as [string, Setup, typeof AuthError][])('%s: run() rejects with it, and the logger stays quiet', async (_name, setup, type) => {
    const { outcome, warned } = await call(setup);
    expect(outcome).toBeInstanceOf(type);
    expect(warned).toEqual([]);
  }, 20_000);

  it('an error the call recovers from (an LLM failure, then an apology) still goes to the logger, once', async () => {
    const { outcome, warned } = await call({ llmRefuses: true });
    expect(outcome).toBeUndefined();
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/^voxline: ProviderError \(provider_error, openai\)/);
  }, 20_000);

  it('an error listener hears the fatal error too, and run() rejects with it', async () => {
    const { outcome, warned, heard } = await call({ llmKey: 'wrong', listen: true });
    expect(outcome).toBeInstanceOf(AuthError);
    expect(heard).toEqual([outcome]);
    expect(warned).toEqual([]);
  }, 20_000);
});
