import { describe, expect, it, vi } from 'vitest';
import { ConfigError, DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, espeakSynthesizer, resample, sileroVad, toneSynthesizer, type VadEvent } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock } from '../../src/testing/index';

async function events(samples: Int16Array, rate = 16000): Promise<VadEvent[]> {
  const vad = await sileroVad();
  const out: VadEvent[] = [];
  const per = rate / 50;
  for (let i = 0; i < samples.length; i += per) out.push(...(await vad.process({ samples: samples.subarray(i, i + per), sampleRate: rate })));
  return out;
}

describe('Silero VAD', () => {
  it('finds real speech within ~100 ms of its onset', async () => {
    const voice = await espeakSynthesizer();
    const a = await voice('Hello, this is a test of the voice detector.');
    const speech = resample(a.samples, a.sampleRate, 16000);
    let onset = 0;
    while (Math.abs(speech[onset]!) < 300) onset++;
    const audio = new Int16Array(16000 + speech.length + 16000);
    audio.set(speech, 16000);
    const ev = await events(audio);
    const start = ev.find((e) => e.type === 'speech_start')!;
    const onsetMs = ((16000 + onset) * 1000) / 16000;
    expect(start.timeMs).toBeGreaterThan(onsetMs - 64);
    expect(start.timeMs).toBeLessThan(onsetMs + 100);
    expect(ev.at(-1)!.type).toBe('speech_end');
    // 48 kHz input is resampled
    expect((await events(resample(audio, 16000, 48000), 48000)).some((e) => e.type === 'speech_start')).toBe(true);
  });

  it('does not take silence, noise or a pure tone for speech', async () => {
    const n = 16000 * 2;
    const silence = new Int16Array(n);
    let seed = 42;
    const noise = Int16Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed % 8000) - 4000; });
    const tone = Int16Array.from({ length: n }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
    for (const audio of [silence, noise, tone]) expect(await events(audio)).toEqual([]);
  });

  it('runs ONNX Runtime on one thread, sequentially, with the user\'s options on top, one shared session per model and options', async () => {
    const ort = (await import('onnxruntime-node')) as unknown as { InferenceSession: { create: (...a: unknown[]) => Promise<unknown> } };
    const create = vi.spyOn(ort.InferenceSession, 'create');
    try {
      const a = await sileroVad({ sessionOptions: { graphOptimizationLevel: 'basic' } });
      const b = await sileroVad({ sessionOptions: { graphOptimizationLevel: 'basic' } });
      expect(create).toHaveBeenCalledTimes(1);
      expect(create.mock.calls[0]![1]).toEqual({ intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'basic' });
      await sileroVad({ sessionOptions: { graphOptimizationLevel: 'basic', intraOpNumThreads: 2 } });
      expect(create).toHaveBeenCalledTimes(2);
      expect(create.mock.calls[1]![1]).toMatchObject({ intraOpNumThreads: 2, interOpNumThreads: 1 });
      // sharing the session, each VAD keeps its own state: the same audio gives the same result
      const voice = await espeakSynthesizer();
      const speech = await voice('Hello there, testing.');
      const samples = resample(speech.samples, speech.sampleRate, 16000);
      const run = async (vad: typeof a) => { const out: VadEvent[] = []; for (let i = 0; i < samples.length; i += 320) out.push(...(await vad.process({ samples: samples.subarray(i, i + 320), sampleRate: 16000 }))); return out; };
      const [ea, eb] = await Promise.all([run(a), run(b)]);
      expect(ea.length).toBeGreaterThan(0);
      expect(eb).toEqual(ea);
    } finally {
      create.mockRestore();
    }
  });

  it('is optional: a missing model is a ConfigError naming what to install', async () => {
    await expect(sileroVad({ modelPath: '/nonexistent/silero.onnx' })).rejects.toThrow();
    const err = await (async () => { const cwd = process.cwd(); process.chdir('/'); try { return await sileroVad().catch((e) => e); } finally { process.chdir(cwd); } })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/@ricky0123\/vad-node/);
  });
});

describe('VoiceSession with a local VAD', () => {
  async function bargeIn(vad: boolean, lines: { text: string; script: string }[]) {
    // Every delay on a virtual clock; the VAD's inference holds it (Clock.hold), so its results
    // come at the audio's time however long ONNX Runtime takes.
    const clock = virtualClock();
    const dg = new DeepgramEmulator({ script: lines.map((l) => l.script), speechStartedDelayMs: 150, clock });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 50, clock });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 15 }), timeToFirstAudioMs: 50, clock });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      ...(vad ? { vad: await sileroVad() } : {}),
      clock,
    });
    const output = virtualSpeaker({ clock });
    const caller = new ScriptedCaller({ lines: [{ text: lines[0]!.text }, { text: lines[1]!.text, cue: { after: 'agent_speaking', delayMs: 1000 } }], synthesizer: await espeakSynthesizer(), clock });
    await session.run({ input: caller.input(session, 2500), output });
    await Promise.all([dg.close(), oa.close(), el.close()]);
    return { session, caller, output, stopAfterMs: (output.clears[0] ?? Infinity) - caller.spoken[1]!.startedAt };
  }

  it('resumes the reply when no words follow the local speech start', async () => {
    // The STT hears no words in the second line (the script is empty): it was not the user.
    const { session } = await bargeIn(true, [{ text: 'Tell me a story please', script: 'Tell me a story please' }, { text: 'Well now', script: '' }]);
    const said = session.transcript.filter((e) => e.role === 'agent');
    expect(said[0]!.interrupted).toBe(true);
    expect(said.length).toBe(2);
    // The agent says the rest of what it had prepared, from the start of the sentence it was cut in.
    expect(said[0]!.text.startsWith('Of course.')).toBe(true);
    expect(said[1]!.text).toMatch(/^[A-Z]/);
    expect(said[0]!.text).toContain(said[1]!.text.split(' ').slice(0, 3).join(' '));
    expect(said[1]!.text.length).toBeGreaterThan(50);
  }, 60_000);
  it('stops the agent sooner on local speech than on the provider\'s words', async () => {
    const lines = [{ text: 'Tell me a story please', script: 'Tell me a story please' }, { text: 'Wait stop there please', script: 'Wait stop there please' }];
    const local = await bargeIn(true, lines);
    const remote = await bargeIn(false, lines);
    expect(local.stopAfterMs).toBeLessThan(250);
    expect(local.stopAfterMs).toBeLessThan(remote.stopAfterMs);
    expect(local.session.history[2]).toEqual({ role: 'user', content: 'Wait stop there please' });
  }, 60_000);

});
