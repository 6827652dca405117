import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer, type VoiceSessionOptions } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock, type CallerLine } from '../../src/testing/index';

const clock = virtualClock();
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(emus.map((e) => e.close())); emus = []; });

async function converse(lines: (string | CallerLine)[], opts: Partial<VoiceSessionOptions> = {}, interimResults = true) {
  const script = lines.map((l) => (typeof l === 'string' ? l : l.text));
  const dg = new DeepgramEmulator({ script, clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 60, tokensPerSecond: 80, clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 50, realtimeFactor: 0.3, clock });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  const session = new VoiceSession({
    stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL, interimResults }),
    llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    clock,
    ...opts,
  });
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
  await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000, clock }) });
  return session;
}

describe('transcript order', () => {
  it('keeps the transcript in time order when a reply is cut off by a final', async () => {
    // Without interim results the barge-in comes with the final, which also ends the user's turn:
    // the user's entry is known before the cut-off reply's.
    const session = await converse(['Tell me a story please', { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } }, 'Thanks that is all'], {}, false);
    expect(session.transcript.map((e) => e.role)).toEqual(['user', 'agent', 'user', 'agent', 'user', 'agent']);
    expect(session.transcript[1]!.interrupted).toBe(true);
    const at = session.transcript.map((e) => e.at);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });
});
