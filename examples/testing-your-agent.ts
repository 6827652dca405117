// Test your own agent offline: the emulators speak each provider's protocol on 127.0.0.1, a
// scripted caller speaks into the session, and you assert on what happened.
// Run: npx tsx examples/testing-your-agent.ts
import assert from 'node:assert/strict';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, toneSynthesizer } from 'voxline';
import { virtualSpeaker } from 'voxline/adapters';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller } from 'voxline/testing';

// #region testing
const lines = ['Hello there', 'What are your opening hours'];
const stt = new DeepgramEmulator({ script: lines });                    // "recognises" these lines
const llm = new OpenAiEmulator({
  responder: (req) => {
    const last = String(req.messages.at(-1)?.content);
    return { content: last.includes('hours') ? 'We open at nine.' : 'Hi! How can I help?' };
  },
});
const tts = new ElevenLabsEmulator({ synthesizer: toneSynthesizer() });
await Promise.all([stt.start(), llm.start(), tts.start()]);

const session = new VoiceSession({
  stt: new DeepgramStt({ apiKey: 'test', baseURL: stt.baseURL }),
  llm: new OpenAiLlm({ apiKey: 'test', baseURL: llm.baseURL, model: 'test' }),
  tts: new ElevenLabsTts({ apiKey: 'test', voiceId: 'test', baseURL: tts.baseURL }),
});
const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer() });
await session.run({ input: caller.input(session), output: virtualSpeaker() });

assert.equal(session.history.at(-1)?.content, 'We open at nine.');
assert.equal(session.metrics.turns.length, 2);
// #endregion
console.log('ok:', session.metrics.summary().voiceToVoice);
await Promise.all([stt.close(), llm.close(), tts.close()]);
