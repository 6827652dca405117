// Tools from any Standard Schema library: zod, valibot (through @valibot/to-json-schema) or
// arktype. The model is sent each schema's JSON Schema, `execute` is typed from the schema with
// no generic to write, and a library's validation issues go back to the model as the tool's
// error (the call goes on). Runs offline against the OpenAI emulator: npx tsx examples/tools-standard-schema.ts
import { toStandardJsonSchema } from '@valibot/to-json-schema';
import { type } from 'arktype';
import * as v from 'valibot';
import { OpenAiLlm, tool } from 'voxline';
import { OpenAiEmulator, TextSession, scriptedReplies } from 'voxline/testing';
import { z } from 'zod';

// zod 4.2+: a zod schema is a Standard JSON Schema as it is.
const lookupOrder = tool({
  name: 'lookup_order',
  description: 'Look up the status of an order',
  parameters: z.object({ order_id: z.string().regex(/^[A-Z]-\d+$/).describe('The order number, e.g. A-17') }),
  execute: ({ order_id }) => ({ order_id, status: 'shipped' }), // order_id: string
});

// valibot: wrap the schema with toStandardJsonSchema().
const bookTable = tool({
  name: 'book_table',
  description: 'Book a table',
  parameters: toStandardJsonSchema(v.object({ name: v.string(), seats: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(12)) })),
  execute: ({ name, seats }) => ({ booked: true, name, seats }), // name: string, seats: number
});

// arktype 2.1.28+: a type is a Standard JSON Schema as it is.
const cancelOrder = tool({
  name: 'cancel_order',
  description: 'Cancel an order',
  parameters: type({ order_id: 'string', 'reason?': "'duplicate' | 'changed mind'" }),
  execute: ({ order_id, reason }) => ({ order_id, cancelled: true, reason: reason ?? 'none' }),
});

const emulator = new OpenAiEmulator({
  timeToFirstTokenMs: 0,
  tokensPerSecond: Infinity,
  responder: scriptedReplies([
    { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'order seventeen' } }] }, // refused by zod: the model is told why
    { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] },
    'Order A-17 has shipped.',
  ]),
});
await emulator.start();
try {
  const session = new TextSession({ llm: new OpenAiLlm({ apiKey: 'test', baseURL: emulator.baseURL, model: 'test', maxRetries: 0 }), tools: [lookupOrder, bookTable, cancelOrder] });
  const turn = await session.run('Where is my order A-17?');
  for (const ev of turn.events) {
    if (ev.type === 'tool_result') console.log(ev.ok ? `tool ok: ${JSON.stringify(ev.result)}` : `tool error: ${ev.error?.message}`);
    else if (ev.type === 'message') console.log(`agent: ${ev.text}`);
  }
  console.log('sent to the model:', JSON.stringify(bookTable.parameters));
} finally {
  await emulator.close();
}
