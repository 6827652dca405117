import { describe, expect, it } from 'vitest';
import * as voxline from '../../src/index';
import { DeepgramAuraTts, DeepgramStt, ElevenLabsTts, GatewayStt, GatewayTts, LlmStream, LocalTts, OpenAiLlm, OpenAiTts, SttStream, TtsStream, VoiceSession, fallback, type AudioFrame, type ChatMessage, type LlmEvent, type SttEvent, type TtsFrame, type Transcription } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';

describe('SttStream, LlmStream and TtsStream are abstract base classes', () => {
  it('are exported as values, and every built-in provider is an instance', () => {
    for (const name of ['SttStream', 'LlmStream', 'TtsStream'] as const) expect(typeof voxline[name]).toBe('function');
    const stts = [new DeepgramStt({ apiKey: 'k' }), new GatewayStt({ apiKey: 'k', model: 'm', baseURL: 'http://127.0.0.1:9/v1' }), fallback([new DeepgramStt({ apiKey: 'k' })])];
    const llms = [new OpenAiLlm({ apiKey: 'k', model: 'm' }), fallback([new OpenAiLlm({ apiKey: 'k', model: 'm' })])];
    const ttss = [
      new ElevenLabsTts({ apiKey: 'k', voiceId: 'v' }), new DeepgramAuraTts({ apiKey: 'k' }), new OpenAiTts({ apiKey: 'k' }),
      new GatewayTts({ apiKey: 'k', model: 'm', baseURL: 'http://127.0.0.1:9/v1' }), new LocalTts(), fallback([new LocalTts()]),
    ];
    for (const s of stts) expect(s).toBeInstanceOf(SttStream);
    for (const l of llms) expect(l).toBeInstanceOf(LlmStream);
    for (const t of ttss) expect(t).toBeInstanceOf(TtsStream);
    expect(new LocalTts()).not.toBeInstanceOf(SttStream);
  });

  it('a session runs a user subclass (`class MyStt extends SttStream`) beside plain objects of the same shape', async () => {
    class ScriptStt extends SttStream {
      readonly provider = 'script';
      readonly sampleRate = 16000;
      transcribe(audio: AsyncIterable<AudioFrame>): Transcription {
        const events = (async function* (): AsyncGenerator<SttEvent> {
          let n = 0;
          for await (const _ of audio) {
            if (++n === 5) yield { type: 'final', text: 'What time is it?', words: [], endOfTurn: true, start: 0, end: 0.1 };
          }
        })();
        return Object.assign(events, { finalize() {} });
      }
    }
    // A plain object, not a subclass: still accepted.
    const llm = {
      provider: 'plain-llm',
      model: 'm',
      async *respond(history: readonly ChatMessage[]): AsyncGenerator<LlmEvent> {
        yield { type: 'text', delta: `You said ${String(history.at(-1)?.content)} It is noon.` };
        yield { type: 'finish', reason: 'stop' };
      },
    };
    class BeepTts extends TtsStream {
      readonly provider = 'beep';
      readonly sampleRate = 16000;
      async *synthesize(text: AsyncIterable<string>): AsyncGenerator<TtsFrame> {
        for await (const chunk of text) {
          const samples = new Int16Array(16 * chunk.length).fill(1000);
          yield { samples, sampleRate: 16000, alignment: { chars: [...chunk], startMs: [...chunk].map((_, i) => i), durationsMs: [...chunk].map(() => 1) } };
        }
      }
    }
    const session = new VoiceSession({ stt: new ScriptStt(), llm, tts: new BeepTts() });
    const input = (async function* () {
      for (let i = 0; i < 150; i++) {
        yield { samples: new Int16Array(320), sampleRate: 16000 };
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await session.run({ input, output: virtualSpeaker() });
    const agent = session.transcript.filter((e) => e.role === 'agent').map((e) => e.text).join(' ');
    expect(session.transcript.find((e) => e.role === 'user')?.text).toBe('What time is it?');
    expect(agent).toContain('It is noon.');
  });
});
