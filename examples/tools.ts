// Tools: JSON-schema parameters validated before the handler runs, hooks around each call, a
// spoken filler while a slow tool runs. Bad arguments, a throwing handler or a timeout become an
// error result the model sees; the call never crashes the session.
import { VoiceSession, gateway, tool, type ToolCall } from 'voxline';

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up the status of an order',
  parameters: {
    type: 'object',
    properties: { order_id: { type: 'string', pattern: '^[0-9]{4,8}$' } },
    required: ['order_id'],
    additionalProperties: false,
  },
  timeoutMs: 5000,
  execute: async ({ order_id }, { signal }) => {
    const res = await fetch(`https://orders.example.com/${order_id}`, { signal });
    return res.json();
  },
});

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
const session = new VoiceSession({
  stt: aig.stt('deepgram/nova-3'),
  llm: aig.llm('moonshot/kimi-k2.6'),
  tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
  tools: [lookupOrder],
  toolFiller: { text: 'One moment while I check.', afterMs: 700 },
  maxToolSteps: 4,
  toolHooks: {
    beforeToolCall: (call: ToolCall) => (call.name === 'lookup_order' && !isBusinessHours() ? { veto: 'The order system is closed at night.' } : undefined),
    afterToolCall: (call, outcome) => console.log(call.name, outcome.ok ? 'ok' : outcome.error.message),
  },
});
session.on('tool_call', (call) => console.log('calling', call.name, call.arguments));

function isBusinessHours(): boolean {
  const h = new Date().getHours();
  return h >= 8 && h < 20;
}
export { session };
