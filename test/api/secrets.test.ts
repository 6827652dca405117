import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramAuraTts, DeepgramStt, ElevenLabsTts, GatewayStt, GatewayTts, OpenAiLlm, OpenAiTts, ProviderError, VoiceSession, fallback, gateway, toneSynthesizer } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller } from '../../src/testing/index';

const SENTINEL = 'sk-INSPECT-SENTINEL-31415926';
let emus: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

/** Every way an object is commonly shown: util.inspect (what console.log uses), deep and hidden, and JSON. */
function shown(x: unknown): string {
  let json = '';
  try {
    json = JSON.stringify(x) ?? '';
  } catch {
    // circular: inspect covers it
  }
  return [inspect(x), inspect(x, { depth: Infinity, showHidden: true, getters: true }), json].join('\n');
}

function providers() {
  const aig = gateway({ apiKey: SENTINEL, baseURL: 'http://127.0.0.1:9/v1' });
  return {
    deepgram: new DeepgramStt({ apiKey: SENTINEL }),
    gatewayStt: new GatewayStt({ apiKey: SENTINEL, model: 'm', baseURL: 'http://127.0.0.1:9/v1' }),
    openai: new OpenAiLlm({ apiKey: SENTINEL, model: 'm' }),
    elevenlabs: new ElevenLabsTts({ apiKey: SENTINEL, voiceId: 'v' }),
    aura: new DeepgramAuraTts({ apiKey: SENTINEL }),
    openaiTts: new OpenAiTts({ apiKey: SENTINEL }),
    gatewayTts: new GatewayTts({ apiKey: SENTINEL, model: 'm', baseURL: 'http://127.0.0.1:9/v1' }),
    aigStt: aig.stt('deepgram/nova-3'),
    aigRealtime: aig.stt('deepgram/nova-3', { realtime: true }),
    aigLlm: aig.llm('m'),
    aigTts: aig.tts('m'),
    chain: fallback([new OpenAiLlm({ apiKey: SENTINEL, model: 'a' }), new OpenAiLlm({ apiKey: SENTINEL, model: 'b' })]),
    gateway: aig,
  };
}

describe('no secret in util.inspect / console.log of a public object', () => {
  it('provider objects show their provider and model, never the key', () => {
    for (const [name, p] of Object.entries(providers())) {
      expect(shown(p), name).not.toContain(SENTINEL);
    }
    const dg = providers().deepgram;
    expect(inspect(dg)).toBe("DeepgramStt { provider: 'deepgram', sampleRate: 16000 }");
    expect(inspect(providers().openai)).toBe("OpenAiLlm { provider: 'openai', model: 'm' }");
  });

  it('a transcription (whose headers carry the key) shows none', () => {
    const t = providers().deepgram.transcribe((async function* () {})());
    expect(shown(t)).not.toContain(SENTINEL);
  });

  it('a session, before, during and after a call over real sockets, shows none', async () => {
    const dg = new DeepgramEmulator({ apiKey: SENTINEL, script: ['Hello there'] });
    const oa = new OpenAiEmulator({ apiKey: SENTINEL, timeToFirstTokenMs: 5 });
    const el = new ElevenLabsEmulator({ apiKey: SENTINEL, synthesizer: toneSynthesizer(), timeToFirstAudioMs: 5 });
    emus.push(dg, oa, el);
    await Promise.all([dg.start(), oa.start(), el.start()]);
    const session = new VoiceSession({
      stt: new DeepgramStt({ apiKey: SENTINEL, baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: SENTINEL, baseURL: oa.baseURL, model: 'm' }),
      tts: new ElevenLabsTts({ apiKey: SENTINEL, voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    });
    const views: string[] = [shown(session)];
    session.on('agent_speech_started', () => views.push(shown(session)));
    await session.run({ input: new ScriptedCaller({ lines: ['Hello there'], synthesizer: toneSynthesizer({ msPerChar: 45 }) }).input(session, 300), output: virtualSpeaker() });
    views.push(shown(session));
    expect(views.length).toBeGreaterThanOrEqual(3);
    for (const v of views) expect(v).not.toContain(SENTINEL);
  }, 20_000);

  it('errors scrub the key from nested causes, at any depth, in message, stack and fields', () => {
    providers(); // registers the key
    const inner = Object.assign(new Error(`401 for key ${SENTINEL}`), { headers: { authorization: `Bearer ${SENTINEL}` } });
    const middle = new Error('request failed', { cause: inner });
    const err = new ProviderError('provider refused', { cause: new Error('wrapped', { cause: middle }) });
    expect(shown(err)).not.toContain(SENTINEL);
    expect(inspect(err)).toContain('request failed'); // the chain is kept, only the secret goes
    const plain = new ProviderError('x', { cause: { headers: { 'xi-api-key': SENTINEL } } });
    expect(shown(plain)).not.toContain(SENTINEL);
  });
});
