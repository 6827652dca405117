// The reference agent: your microphone and speaker, one gateway key for all three stages.
// Run: AIGATEWAY_API_KEY=... npx tsx examples/agent-gateway.ts   (needs SoX for the mic and speaker)
import { VoiceSession, gateway, tool } from 'voxline';
import { soxMic, soxSpeaker } from 'voxline/adapters';

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up an order by its number',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: async ({ order_id }) => ({ order_id, status: 'shipped', arriving: 'Thursday' }),
});

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });   // one key, three modalities
const session = new VoiceSession({
  stt: aig.stt('deepgram/nova-3'),
  llm: aig.llm('moonshot/kimi-k2.6', { instructions: 'You are a helpful voice assistant. Keep answers short.' }),
  tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
  tools: [lookupOrder],
  hangUpPhrases: ['bye', 'goodbye', 'hang up'],
});
session.on('turn', (t) => console.log(t.latency));   // per-turn latency breakdown
process.once('SIGTERM', () => void session.close({ drain: true }));
await session.run({ input: soxMic(), output: soxSpeaker() });
