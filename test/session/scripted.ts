import { ElevenLabsTts, VoiceSession, toneSynthesizer, type ChatMessage, type LlmStream, type SttEvent, type VoiceSessionOptions } from '../../src/index';
import { Channel } from '../../src/streams/channel';
import { virtualSpeaker } from '../../src/adapters/index';
import { ElevenLabsEmulator } from '../../src/testing/index';
import { sleep } from '../helpers';

export const final = (text: string): SttEvent => ({ type: 'final', text, words: [], endOfTurn: true, start: 0, end: 0 });
export const interim = (text: string): SttEvent => ({ type: 'interim', text, words: [] });

/**
 * A session whose STT says what the test offers (as a provider would), with `llm` and the real
 * ElevenLabs client against its emulator (`msPerChar` of speech a character). `close()` ends the input and awaits `run()`.
 */
export async function scriptedSession(llm: LlmStream, opts: Partial<VoiceSessionOptions> = {}, msPerChar = 3) {
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar }), timeToFirstAudioMs: 20, realtimeFactor: 0.2 });
  await el.start();
  const stt = new Channel<SttEvent>(16);
  const session = new VoiceSession({
    stt: { provider: 'scripted', sampleRate: 16000, transcribe: (audio, o) => { o?.signal?.addEventListener('abort', () => stt.close()); void (async () => { for await (const _ of audio); })().catch(() => {}); return { [Symbol.asyncIterator]: () => stt[Symbol.asyncIterator](), finalize() {} }; } },
    llm,
    tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    ...opts,
  });
  const output = virtualSpeaker({ sampleRate: 16000 });
  const errors: Error[] = [];
  session.on('error', (e) => errors.push(e));
  const input = (async function* () { while (!stt.isClosed) { await sleep(20); yield { samples: new Int16Array(320), sampleRate: 16000 }; } })();
  const running = session.run({ input, output });
  /** Resolves at the next `agent_speech_ended`. */
  const spoke = () => new Promise<{ text: string; interrupted: boolean }>((r) => session.once('agent_speech_ended', r));
  const close = async () => {
    stt.close();
    try {
      await running;
    } finally {
      await el.close();
    }
  };
  return { session, stt, output, errors, spoke, close, running };
}

/**
 * Checks `history` as OpenAI does before it answers (a 400 otherwise): each assistant message
 * with `tool_calls` is followed by one tool message per call, and each tool message answers a
 * call of the assistant message before it.
 */
export function toolPairingProblems(history: readonly ChatMessage[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < history.length; i++) {
    const m = history[i]!;
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const ids = new Set(m.tool_calls.map((c) => c.id));
      let j = i + 1;
      for (; j < history.length && history[j]!.role === 'tool'; j++) ids.delete((history[j] as { tool_call_id: string }).tool_call_id);
      if (ids.size) problems.push(`message ${i}: tool_calls ${[...ids].join(', ')} have no tool message`);
    }
    if (m.role === 'tool') {
      let k = i - 1;
      while (k >= 0 && history[k]!.role === 'tool') k--;
      const asker = history[k];
      if (!(asker?.role === 'assistant' && asker.tool_calls?.some((c) => c.id === m.tool_call_id))) problems.push(`message ${i}: tool message ${m.tool_call_id} answers no call`);
    }
  }
  return problems;
}
