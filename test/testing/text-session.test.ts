import { AssertionError } from 'node:assert';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, ToolError } from '../../src/index';
import { OpenAiEmulator, TextSession, scriptedReplies, type Responder } from '../../src/testing/index';
import { agent, fiveTurnReplies, fiveTurns } from './conversation';
import { toolPairingProblems } from '../session/scripted';

let emus: OpenAiEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

async function emulator(responder?: Responder) {
  const emu = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity, responder });
  emus.push(emu);
  await emu.start();
  return { emu, llm: new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'test', maxRetries: 0 }) };
}

describe('TextSession: text-level turns', () => {
  it('runs a five-turn conversation with two tool calls, in order, with the history a voice session keeps', async () => {
    const { emu, llm } = await emulator(fiveTurnReplies());
    const { session, turns } = await fiveTurns(llm);
    turns[0]!.expect.message('Hello! How can I help you today?').noMoreEvents();
    turns[1]!.expect.toolCall('lookup_order', { order_id: 'A-17' }).toolResult({ status: 'shipped' }).message(/has shipped/).noMoreEvents();
    turns[2]!.expect.message('Let me cancel that.').toolCall('cancel_order', { order_id: 'B-2', reason: /dup/ }).toolResult({ cancelled: true }).message('Order B-2 is cancelled.').noMoreEvents();
    turns[3]!.expect.message("You're welcome!").noMoreEvents();
    turns[4]!.expect.message('Thanks for calling, goodbye!').hangUp('hang-up').noMoreEvents();
    expect(turns[1]!.text).toBe('Order A-17 has shipped. Anything else?');
    expect(session.endedReason).toBe('hang-up');
    // Six requests: the hang-up phrase ends the call without asking the model.
    expect(emu.record.bodies.length).toBe(6);
    const lastRequest = emu.record.bodies.at(-1) as { messages: { role: string; content: unknown }[]; tools: unknown[] };
    expect(lastRequest.messages[0]).toEqual({ role: 'system', content: 'You are the order desk of a small shop.' });
    expect(lastRequest.tools.length).toBe(2);
    expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect(session.history[7]).toMatchObject({ role: 'assistant', content: 'Let me cancel that.', tool_calls: [{ function: { name: 'cancel_order' } }] });
    expect(JSON.parse(String(session.history[8]!.content))).toEqual({ order_id: 'B-2', cancelled: true });
    expect(session.history[9]).toEqual({ role: 'assistant', content: 'Let me cancel that. Order B-2 is cancelled.' });
    expect(session.usage.llmCompletionTokens).toBeGreaterThan(0);
    await expect(session.run('Hello?')).rejects.toThrow(/has ended \(hang-up\)/);
    const other = new TextSession({ ...agent, llm });
    emu.responder = fiveTurnReplies();
    const first = other.run('Hello');
    await expect(other.run('Hello again')).rejects.toThrow(/while a turn is running/);
    (await first).expect.message('Hello! How can I help you today?').noMoreEvents();
  });

  it('fails with a plain AssertionError that lists the turn\'s events and where it stopped', async () => {
    const { llm } = await emulator(fiveTurnReplies());
    const session = new TextSession({ ...agent, llm });
    await session.run('Hello');
    const turn = await session.run('Where is order A-17?');
    let err: unknown;
    try {
      turn.expect.toolCall('lookup_order', { order_id: 'A-18' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AssertionError);
    const message = (err as Error).message;
    expect(message).toContain("Expected event #0 to be a tool call to lookup_order with arguments matching { order_id: 'A-18' }, but it is tool_call lookup_order { order_id: 'A-17' }");
    expect(message).toContain("> #0 tool_call lookup_order { order_id: 'A-17' }");
    expect(message).toContain("  #1 tool_result lookup_order ok { order_id: 'A-17', status: 'shipped' }");
    expect(message).toContain("  #2 message 'Order A-17 has shipped. Anything else?'");
    expect(() => turn.expect.toolCall().toolResult().noMoreEvents()).toThrow(/Expected event #2 to be no more events, but it is message/);
    expect(() => turn.expect.skip(3).message()).toThrow(/but there are no more events[\s\S]*> #3 \(end\)/);
    expect(() => turn.expect.containsToolCall('cancel_order')).toThrow(/Expected the turn to contain a tool call to cancel_order/);
    turn.expect.containsToolCall('lookup_order', { order_id: /^A-/ }).containsMessage(/shipped/).skipTo('message').noMoreEvents();
  });

  it('runs tool hooks, reports invalid arguments as tool errors, and keeps the history limit', async () => {
    const { llm } = await emulator(scriptedReplies([
      { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }, { name: 'cancel_order', arguments: { id: 7 } }] },
      'Done.',
      'Hello again.',
    ]));
    const seen: string[] = [];
    const session = new TextSession({
      ...agent,
      llm,
      historyLimit: 4,
      toolHooks: {
        beforeToolCall: (call) => (call.name === 'lookup_order' ? { result: { status: 'from the hook' } } : undefined),
        afterToolCall: (call, outcome) => void seen.push(`${call.name}:${outcome.ok}`),
      },
    });
    const turn = await session.run('Where is A-17, and cancel 7');
    turn.expect
      .toolCall('lookup_order')
      .toolCall('cancel_order', { id: 7 })
      .toolResult({ status: 'from the hook' })
      .toolError(/Invalid arguments for 'cancel_order'/)
      .message('Done.')
      .noMoreEvents();
    const failed = turn.events[3];
    expect(failed?.type === 'tool_result' && failed.error).toBeInstanceOf(ToolError);
    expect(seen).toEqual(['lookup_order:true', 'cancel_order:false']);
    (await session.run('Hi')).expect.message('Hello again.').noMoreEvents();
    // Four messages kept, never starting with an orphaned tool result.
    expect(session.history.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant']);
  });

  it('reports a provider failure as an error event, then apologises or ends the call as configured', async () => {
    const { emu, llm } = await emulator(() => ({ content: 'This reply will be cut off in the middle by the emulator.' }));
    emu.inject({ closeMidStream: { afterMessages: 3 } });
    const session = new TextSession({ llm, apology: 'Sorry, say again?' });
    const turn = await session.run('Hello');
    turn.expect.message('This reply').error(/server had an error/).message('Sorry, say again?').noMoreEvents();
    expect(session.history.slice(1)).toEqual([{ role: 'assistant', content: 'This reply' }, { role: 'assistant', content: 'Sorry, say again?' }]);
    (await session.run('Hello')).expect.message(/cut off in the middle/).noMoreEvents();

    emu.inject({ refuse: { count: 1, status: 500 } });
    const closing = new TextSession({ llm, onProviderError: 'close' });
    (await closing.run('Hello')).expect.error(/HTTP 500/).hangUp('provider error').noMoreEvents();
  });

  it('ends the call politely once the budget is spent', async () => {
    const { llm } = await emulator(() => ({ content: 'A fairly long answer that costs a little money to say out loud.' }));
    const session = new TextSession({ llm, prices: { llmPromptPer1k: 1, llmCompletionPer1k: 1, ttsPer1kChars: 1 }, budget: 0.1, goodbye: 'I must go now.' });
    (await session.run('Hello')).expect.message().noMoreEvents();
    let turn = await session.run('Tell me more');
    for (let i = 0; i < 10 && turn.events.length === 1; i++) turn = await session.run('And more');
    turn.expect.message().message('I must go now.').hangUp('budget reached').noMoreEvents();
    expect(session.cost).toBeGreaterThanOrEqual(0.1);
  });

  it('a hook that never settles, a throwing hook or a BigInt result ends the turn with a ToolError the model sees; every later request has a valid history', async () => {
    const { emu, llm } = await emulator((req) => (req.messages.at(-1)?.role === 'user' ? { toolCalls: [{ name: 'lookup', arguments: {} }] } : { content: 'I could not look that up.' }));
    const cases = [
      { toolHooks: { beforeToolCall: () => new Promise<never>(() => {}) }, error: "The beforeToolCall hook of 'lookup' did not return within 60 ms" },
      { toolHooks: { afterToolCall: () => { throw new Error('audit log down'); } }, error: "The afterToolCall hook of 'lookup' threw: audit log down" },
      { result: { total: 99n }, error: /^The result of 'lookup' cannot be sent to the model as JSON: Do not know how to serialize a BigInt/ },
    ];
    for (const c of cases) {
      const s = new TextSession({ llm, tools: [{ name: 'lookup', description: 'd', parameters: { type: 'object' }, timeoutMs: 60, execute: () => c.result ?? 'ok' }], toolHooks: c.toolHooks });
      const t0 = Date.now();
      const turn = await s.run('Where is my order?');
      expect(Date.now() - t0).toBeLessThan(2000);
      turn.expect.toolCall('lookup').toolError(c.error).message('I could not look that up.').noMoreEvents();
      (await s.run('And now?')).expect.toolCall('lookup').toolError().message().noMoreEvents();
      expect(toolPairingProblems(s.history)).toEqual([]);
    }
    for (const body of emu.record.bodies as { messages: Parameters<typeof toolPairingProblems>[0] }[]) expect(toolPairingProblems(body.messages)).toEqual([]);
    expect(emu.record.bodies.length).toBe(cases.length * 4);
  });

  it('a turn aborted before the usage came counts its request all the same (an estimate: the prompt was sent)', async () => {
    const emu = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: 20, responder: () => ({ content: 'A long answer that streams slowly enough to be cut off half way through.' }) });
    emus.push(emu);
    await emu.start();
    const session = new TextSession({ llm: new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'test', maxRetries: 0 }), instructions: 'Be brief.' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    await session.run('Hello', { signal: ac.signal });
    const body = emu.record.bodies[0] as { messages: unknown[] };
    expect(session.usage.llmPromptTokens).toBe(Math.ceil(JSON.stringify(body.messages).length / 4));
    expect(session.usage.llmCompletionTokens).toBeGreaterThan(0);
    // a request refused before it streamed is not billed, nor counted
    const before = { ...session.usage };
    emu.inject({ refuse: { count: 1, status: 500 } });
    (await session.run('Hello again')).expect.error(/HTTP 500/).message().noMoreEvents();
    expect(session.usage.llmPromptTokens).toBe(before.llmPromptTokens);
  });
});
