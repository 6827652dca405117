// A speech-to-speech model as the agent's brain: OpenAI's Realtime API (gpt-realtime) hears the
// caller, decides when the turn ends, calls the tools and speaks, in one WebSocket; voxline keeps
// the adapters, tools, events, history, barge-in with truncation, hang-up phrases and budget.
// Offline, a scripted caller against the Realtime emulator:  npx tsx examples/realtime-agent.ts
// Live, on your microphone and speaker:  OPENAI_API_KEY=sk-... npx tsx examples/realtime-agent.ts
import { OpenAiRealtime, VoiceSession, tool, toneSynthesizer } from 'voxline';
import { soxMic, soxSpeaker, virtualSpeaker } from 'voxline/adapters';
import { RealtimeEmulator, ScriptedCaller } from 'voxline/testing';

const live = Boolean(process.env.OPENAI_API_KEY);
const lines = ['Hello there', 'Where is order 4417 now', 'Thanks that is all goodbye'];
const emulator = live ? undefined : new RealtimeEmulator({ script: lines });
await emulator?.start();

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up the status of an order by its number',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: async ({ order_id }) => ({ order_id, status: 'shipped', arriving: 'Thursday' }),
});

const session = new VoiceSession({
  realtime: new OpenAiRealtime({
    apiKey: process.env.OPENAI_API_KEY ?? 'offline',
    model: 'gpt-realtime',
    voice: 'marin',
    turnDetection: { type: 'semantic_vad', eagerness: 'high' },   // or { type: 'server_vad', silence_duration_ms: 300 }
    baseURL: emulator?.baseURL,                                    // undefined: https://api.openai.com/v1
  }),
  instructions: 'You are a helpful voice assistant for a shop. Keep answers short.',
  tools: [lookupOrder],
  greeting: 'Hi! How can I help?',
  hangUpPhrases: ['goodbye'],
  goodbye: 'Goodbye!',
  prices: { llmPromptPer1k: 0.032, llmCompletionPer1k: 0.064 },   // audio tokens, per 1,000
  budget: 0.5,
});
session.on('user_turn', (t) => console.log(`caller: ${t.text}`));
session.on('tool_call', (c) => console.log(`tool:   ${c.name}(${c.arguments})`));
session.on('turn', (t) => console.log(`        speech end -> first audio ${t.latency.voiceToVoice.toFixed(0)} ms`));
session.on('interrupted', (i) => console.log(`        cut off; the model keeps only "${i.heardText}"`));

if (live) {
  await session.run({ input: soxMic(), output: soxSpeaker() });
} else {
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer(), leadMs: 2500 });   // the greeting first
  await session.run({ input: caller.input(session), output: virtualSpeaker({ sampleRate: 24000 }) });
  await emulator!.close();
}
for (const m of session.transcript) console.log(`${m.role.padEnd(5)} ${m.text}`);
console.log(`cost ${session.cost.toFixed(4)}`);
