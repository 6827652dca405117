// The testing suite's own conversation: an order-desk agent, five turns, two tool calls.
import type { OpenAiLlm } from '../../src/index';
import { tool } from '../../src/index';
import { TextSession, scriptedReplies, type TextSessionOptions } from '../../src/testing/index';

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up an order',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: ({ order_id }) => ({ order_id, status: order_id === 'A-17' ? 'shipped' : 'packing' }),
});
const cancelOrder = tool<{ order_id: string; reason?: string }>({
  name: 'cancel_order',
  description: 'Cancel an order',
  parameters: { type: 'object', properties: { order_id: { type: 'string' }, reason: { type: 'string' } }, required: ['order_id'] },
  execute: ({ order_id }) => ({ order_id, cancelled: true }),
});

/** The agent as it would be given to a VoiceSession (without stt and tts). */
export const agent: Omit<TextSessionOptions, 'llm'> = {
  instructions: 'You are the order desk of a small shop.',
  tools: [lookupOrder, cancelOrder],
  hangUpPhrases: ['goodbye'],
  goodbye: 'Thanks for calling, goodbye!',
};

/** The five-turn conversation of the docs and of the determinism test. */
export async function fiveTurns(llm: OpenAiLlm) {
  const session = new TextSession({ ...agent, llm });
  const turns = [
    await session.run('Hello'),
    await session.run('Where is order A-17?'),
    await session.run('Please cancel order B-2, I ordered it twice'),
    await session.run('Thank you'),
    await session.run('Goodbye'),
  ];
  return { session, turns };
}

export const fiveTurnReplies = () =>
  scriptedReplies([
    'Hello! How can I help you today?',
    { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] },
    'Order A-17 has shipped. Anything else?',
    { content: 'Let me cancel that.', toolCalls: [{ name: 'cancel_order', arguments: { order_id: 'B-2', reason: 'duplicate' } }] },
    'Order B-2 is cancelled.',
    "You're welcome!",
  ]);
