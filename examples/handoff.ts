// Handoffs: a reception agent hands billing questions to a billing agent, which answers in the
// same turn, in its own voice, with its own tools. Cartesia takes a voice per reply on the same
// socket; with ElevenLabs a voice change opens a stream for that voice. A supervisor can also
// take the call over from code.
import { Agent, CartesiaTts, VoiceSession, gateway, handoff, tool, type ChatMessage } from 'voxline';

const lookupInvoice = tool<{ invoice_id: string }>({
  name: 'lookup_invoice',
  description: 'Look up an invoice by its id',
  parameters: { type: 'object', properties: { invoice_id: { type: 'string' } }, required: ['invoice_id'], additionalProperties: false },
  execute: async ({ invoice_id }) => ({ invoice_id, status: 'paid', amount: '42.00 EUR' }),
});

const billing = new Agent({
  name: 'billing',
  instructions: 'You are the billing desk. Look invoices up before answering. Be brief.',
  tools: [lookupInvoice],
  voice: 'a0e99841-438c-4a64-b679-ae501e7d6091', // another Cartesia voice, same socket
  // The billing desk gets a short summary instead of the whole conversation.
  carryHistory: (history: readonly ChatMessage[], { reason }) => [
    { role: 'system', content: `Handed over from reception (${reason ?? 'no reason given'}). The caller said: ${history.filter((m) => m.role === 'user').map((m) => m.content).join(' / ')}` },
  ],
});

const transferToBilling = tool({
  name: 'transfer_to_billing',
  description: 'Hand the call to the billing desk for invoices, payments and refunds',
  parameters: { type: 'object', properties: { topic: { type: 'string' } } },
  execute: ({ topic }) => handoff(billing, { reason: typeof topic === 'string' ? topic : 'billing question' }),
});

const reception = new Agent({
  name: 'reception',
  instructions: 'You are the reception of a small shop. For anything about invoices or payments, transfer the caller to billing.',
  tools: [transferToBilling],
  greeting: 'Hello, you reached the shop. How can I help?',
});

const supervisor = new Agent({ name: 'supervisor', instructions: 'You are a supervisor. Calm the caller down and solve the problem.', greeting: 'Hi, this is the supervisor speaking.' });

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
const session = new VoiceSession({
  stt: aig.stt('deepgram/nova-3'),
  llm: aig.llm('moonshot/kimi-k2.6'),
  tts: new CartesiaTts({ apiKey: process.env.CARTESIA_API_KEY ?? '', voiceId: '694f9389-aac1-45b6-b726-9d9369183238' }),
  agent: reception,
});
session.on('handoff', ({ from, to, reason, source }) => console.log(`handoff ${from} -> ${to} (${source}): ${reason ?? ''}`));
session.on('turn', (t) => console.log(`turn ${t.index} answered by ${t.agent}: ${t.latency.voiceToVoice.toFixed(0)} ms`));
// From code: an angry caller goes to the supervisor.
session.on('user_turn', ({ text }) => {
  if (/\b(manager|supervisor)\b/i.test(text) && session.agent !== 'supervisor') void session.handoff(supervisor, { reason: 'caller asked for a supervisor' });
});

export { session };
