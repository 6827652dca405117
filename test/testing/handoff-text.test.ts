import { AssertionError } from 'node:assert';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, ConfigError, OpenAiLlm, handoff, tool, type ChatMessage } from '../../src/index';
import { OpenAiEmulator, TextSession, type ChatRequest, type ChatReply } from '../../src/testing/index';

let emus: OpenAiEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

async function emulator(responder: (req: ChatRequest) => ChatReply) {
  const emu = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity, responder });
  emus.push(emu);
  await emu.start();
  return { emu, llm: new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'test', maxRetries: 0 }) };
}

const billing = new Agent({
  name: 'billing',
  instructions: 'You are the billing desk.',
  tools: [tool<{ invoice_id: string }>({
    name: 'lookup_invoice', description: 'Look up an invoice', parameters: { type: 'object', properties: { invoice_id: { type: 'string' } }, required: ['invoice_id'] },
    execute: ({ invoice_id }) => ({ invoice_id, status: 'paid' }),
  })],
});
const toBilling = tool({ name: 'transfer_to_billing', description: 'Hand billing questions to the billing desk', parameters: { type: 'object', properties: {} }, execute: () => handoff(billing, { reason: 'billing question' }) });
const reception = new Agent({ name: 'reception', instructions: 'You are the reception.', tools: [toBilling], greeting: 'Hello, reception here.' });

const system = (req: ChatRequest) => String((req.messages[0] as { content?: unknown }).content);
const toolNames = (req: ChatRequest) => (req.tools ?? []).map((t) => t.function.name);
const last = (req: ChatRequest) => req.messages.at(-1) as { role: string; content?: unknown };

/** Answers as each agent would: reception hands billing questions over, billing looks invoices up. */
function desk(req: ChatRequest): ChatReply {
  if (system(req) === 'You are the reception.') return /invoice/.test(String(last(req).content)) ? { content: 'Let me transfer you.', toolCalls: [{ name: 'transfer_to_billing', arguments: {} }] } : { content: 'How can I help?' };
  if (last(req).role === 'tool') return { content: `Invoice ${JSON.parse(String(last(req).content)).invoice_id} is paid.` };
  const id = /INV-\d+/.exec(String(last(req).content))?.[0];
  return id ? { toolCalls: [{ name: 'lookup_invoice', arguments: { invoice_id: id } }] } : { content: 'Billing here. What is the invoice number?' };
}

describe('TextSession: handoffs between agents', () => {
  it('reception hands a billing question to billing, which answers the same turn (a judged reply) and then uses its own tool', async () => {
    const { emu, llm } = await emulator(desk);
    // An emulated judge: it reads the reply it is shown and passes one that asks for the invoice number.
    const { llm: judgeLlm } = await emulator((req) => {
      const shown = JSON.parse(/The agent replied: (".*")/.exec(String(req.messages.at(-1)!.content))![1]!) as string;
      const pass = /invoice number/i.test(shown);
      return { toolCalls: [{ name: 'verdict', arguments: { pass, reason: pass ? 'It asks for the invoice number.' : 'It does not ask for the invoice number.' } }] };
    });
    // Warm both HTTP clients once, so that the timing below is the conversation's.
    await new TextSession({ llm }).run('ping');
    await new TextSession({ llm: judgeLlm }).run('ping');
    emu.record.bodies.length = 0;
    const started = performance.now();
    const session = new TextSession({ llm, agent: reception });
    const first = await session.run('I have a question about my invoice');
    (await first.expect.message('Let me transfer you.').toolCall('transfer_to_billing').toolResult().handoff(billing, /billing/).judge(judgeLlm, 'asks the caller for the invoice number')).noMoreEvents();
    const second = await session.run('It is INV-42');
    const wallMs = performance.now() - started;
    first.expect.message('Let me transfer you.').toolCall('transfer_to_billing').toolResult().handoff(billing, /billing/).message('Billing here. What is the invoice number?').noMoreEvents();
    second.expect.toolCall('lookup_invoice', { invoice_id: 'INV-42' }).toolResult({ status: 'paid' }).message('Invoice INV-42 is paid.').noMoreEvents();
    expect(first.events[0]).toMatchObject({ type: 'message', agent: 'reception' });
    expect(first.events.at(-1)).toMatchObject({ type: 'message', agent: 'billing' });
    expect(session.agent).toBe('billing');
    expect(session.handoffs).toEqual([{ from: 'reception', to: 'billing', reason: 'billing question', source: 'tool' }]);
    // Billing's requests carry its instructions and offer its tools only: reception's stop being offered.
    const bodies = emu.record.bodies as ChatRequest[];
    expect(bodies.map((b) => [system(b), toolNames(b)])).toEqual([
      ['You are the reception.', ['transfer_to_billing']],
      ['You are the billing desk.', ['lookup_invoice']],
      ['You are the billing desk.', ['lookup_invoice']],
      ['You are the billing desk.', ['lookup_invoice']],
    ]);
    // The whole history carried over: billing saw the greeting, the question, the handoff's result and what reception said.
    expect(bodies[1]!.messages.slice(1).map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'tool', 'assistant']);
    expect(JSON.parse(String(bodies[1]!.messages.at(-2)!.content))).toEqual({ handoff: 'billing', reason: 'billing question' });
    expect(session.history.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'tool', 'assistant', 'assistant', 'user', 'assistant', 'tool', 'assistant']);
    console.log(`two-agent TextSession call (2 turns, 4 LLM requests, a judged reply): ${wallMs.toFixed(1)} ms wall`);
    expect(wallMs).toBeLessThan(100);
  });

  it("summarises the history with the new agent's carryHistory hook; a hook that throws keeps it whole and says why", async () => {
    const { emu, llm } = await emulator(desk);
    const seen: unknown[] = [];
    const summarising = new Agent({ name: 'billing', instructions: 'You are the billing desk.', carryHistory: (history, info) => {
      seen.push(info);
      return [{ role: 'assistant', content: `Summary: ${history.filter((m) => m.role === 'user').map((m) => m.content).join('; ')}` }];
    } });
    const to = tool({ name: 'transfer_to_billing', description: 'Billing', parameters: { type: 'object', properties: {} }, execute: () => handoff(summarising) });
    const session = new TextSession({ llm, instructions: 'You are the reception.', tools: [to] });
    const turn = await session.run('A question about my invoice');
    turn.expect.message().toolCall().toolResult().handoff('billing').message(/Billing here/).noMoreEvents();
    expect(seen).toEqual([{ to: 'billing', source: 'tool' }]);
    expect(session.history.slice(0, 1)).toEqual([{ role: 'assistant', content: 'Summary: A question about my invoice' }]);
    expect((emu.record.bodies[1] as ChatRequest).messages.slice(1)).toEqual([{ role: 'assistant', content: 'Summary: A question about my invoice' }]);

    const failing = new Agent({ name: 'billing', instructions: 'You are the billing desk.', carryHistory: () => { throw new Error('summariser down'); } });
    const other = new TextSession({ llm, instructions: 'You are the reception.', tools: [tool({ name: 'transfer_to_billing', description: 'Billing', parameters: { type: 'object', properties: {} }, execute: () => handoff(failing) })] });
    const t2 = await other.run('A question about my invoice');
    t2.expect.message().toolCall().toolResult().error(/carryHistory failed, the whole history is kept: summariser down/).handoff('billing').message(/Billing here/).noMoreEvents();
    expect(other.history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'assistant']);
  });

  it('hands over from code: the greeting is kept, the next turn goes to the new agent; expect.handoff fails with the events listed', async () => {
    const { llm } = await emulator(desk);
    const session = new TextSession({ llm, agent: reception });
    await expect(session.handoff({ name: 'x' } as unknown as Agent)).rejects.toThrow(ConfigError);
    const billingHello = new Agent({ name: 'billing', instructions: 'You are the billing desk.', greeting: 'Billing, hello.', tools: billing.tools });
    expect(await session.handoff(billingHello, { reason: 'supervisor' })).toEqual({ from: 'reception', to: 'billing', reason: 'supervisor', source: 'code' });
    expect(session.history.at(-1)).toEqual<ChatMessage>({ role: 'assistant', content: 'Billing, hello.' });
    const turn = await session.run('Check INV-7');
    turn.expect.toolCall('lookup_invoice', { invoice_id: 'INV-7' }).toolResult().message('Invoice INV-7 is paid.').noMoreEvents();
    expect(() => turn.expect.handoff('billing')).toThrow(AssertionError);
    expect(() => turn.expect.handoff('billing')).toThrow(/Expected event #0 to be a handoff to billing, but it is tool_call lookup_invoice/);
  });

  it('stops a ping-pong of handoffs after MAX_HANDOFFS_PER_TURN answers in one turn, with an error saying why', async () => {
    const { emu, llm } = await emulator((req) => ({ toolCalls: [{ name: system(req) === 'A' ? 'to_b' : 'to_a', arguments: {} }] }));
    const a: Agent = new Agent({ name: 'a', instructions: 'A', tools: [tool({ name: 'to_b', description: 'b', parameters: { type: 'object', properties: {} }, execute: () => handoff(b) })] });
    const b: Agent = new Agent({ name: 'b', instructions: 'B', tools: [tool({ name: 'to_a', description: 'a', parameters: { type: 'object', properties: {} }, execute: () => handoff(a) })] });
    const session = new TextSession({ llm, agent: a });
    const turn = await session.run('Hello');
    expect(turn.events.filter((e) => e.type === 'handoff').map((e) => (e as { to: string }).to)).toEqual(['b', 'a', 'b', 'a']);
    turn.expect.skipTo('error');
    expect(turn.events.at(-1)).toMatchObject({ type: 'error', error: { message: expect.stringMatching(/More than 3 handoffs in one turn: a has the call/) } });
    expect(emu.record.bodies.length).toBe(4);
    expect(session.agent).toBe('a');
  });

  it('a session without agents names none: events carry no agent field', async () => {
    const { llm } = await emulator(desk);
    const session = new TextSession({ llm, instructions: 'You are the reception.' });
    const turn = await session.run('Hi');
    expect(turn.events).toEqual([{ type: 'message', text: 'How can I help?' }]);
    expect(session.agent).toBeUndefined();
  });

  it('checks agents at once: a name is needed, tool names are checked', () => {
    expect(() => new Agent({ name: '' })).toThrow(ConfigError);
    expect(() => new Agent({ name: 'a', tools: [toBilling, toBilling] })).toThrow(/two tools are named transfer_to_billing/);
    expect(() => handoff({} as Agent)).toThrow(ConfigError);
  });
});
