import { AssertionError } from 'node:assert';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, ProtocolError, TimeoutError, type ChatMessage, type LlmEvent } from '../../src/index';
import { OpenAiEmulator, TextSession, judgeReply, scriptedReplies, type ChatRequest, type Responder } from '../../src/testing/index';

let emus: OpenAiEmulator[] = [];
afterEach(async () => {
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
});

async function model(responder: Responder) {
  const emu = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity, responder });
  emus.push(emu);
  await emu.start();
  return { emu, llm: new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'judge-model', maxRetries: 0 }) };
}

/**
 * An emulated judge: it reads the reply from the request and calls `verdict`, passing a reply
 * that asks for the order number with "please", and saying what is missing otherwise.
 */
const politeOrderJudge: Responder = (req: ChatRequest) => {
  const asked = String(req.messages.at(-1)!.content);
  const reply = /The agent replied: (".*")/.exec(asked)![1]!;
  const text = JSON.parse(reply) as string;
  const pass = /order number/i.test(text) && /please/i.test(text);
  return { toolCalls: [{ name: 'verdict', arguments: { pass, reason: pass ? 'It asks for the order number and says please.' : 'It never asks for the order number.' } }] };
};

async function agentTurn(...replies: string[]) {
  const { llm } = await model(scriptedReplies(replies));
  return new TextSession({ llm }).run('I want to know where my parcel is');
}

describe('TurnExpectation.judge()', () => {
  it('passes when the judge says the reply meets the criterion, and moves past the message', async () => {
    const turn = await agentTurn('Could you tell me your order number, please?');
    const { emu, llm: judge } = await model(politeOrderJudge);
    const expectation = await turn.expect.judge(judge, 'asks for the order number politely');
    expectation.noMoreEvents();
    expect(expectation.position).toBe(1);
    // What the judge was asked: the criterion, the reply and the user's words, with the verdict tool.
    const request = emu.record.bodies[0] as ChatRequest;
    expect(request.tools?.map((t) => t.function.name)).toEqual(['verdict']);
    expect(request.messages[0]!.role).toBe('system');
    const asked = String(request.messages[1]!.content);
    expect(asked).toContain('The user said: "I want to know where my parcel is"');
    expect(asked).toContain('The agent replied: "Could you tell me your order number, please?"');
    expect(asked).toContain('Criterion: asks for the order number politely');
  });

  it("fails with an AssertionError that gives the judge's reason and lists the turn", async () => {
    const turn = await agentTurn('Parcels usually take three days.');
    const { llm: judge } = await model(politeOrderJudge);
    const failure = await turn.expect.judge(judge, 'asks for the order number politely').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AssertionError);
    const message = (failure as AssertionError).message;
    expect(message).toContain("Expected event #0 to be a message that meets 'asks for the order number politely'");
    expect(message).toContain('the judge (openai judge-model) said it does not: It never asks for the order number.');
    expect(message).toContain("> #0 message 'Parcels usually take three days.'");
  });

  it('takes a JSON verdict answered as text', async () => {
    const turn = await agentTurn('Please give me your order number.');
    const { llm: judge } = await model(scriptedReplies(['{"pass": false, "reason": "It is not polite enough."}']));
    await expect(turn.expect.judge(judge, 'asks very politely')).rejects.toThrow(/said it does not: It is not polite enough\./);
  });

  it('a judge that gives no verdict is an error, never a pass', async () => {
    const turn = await agentTurn('Please give me your order number.');
    const { llm: judge } = await model(scriptedReplies(['Looks fine to me.']));
    const failure = await turn.expect.judge(judge, 'asks for the order number').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProtocolError);
    expect((failure as Error).message).toMatch(/gave no verdict .*"Looks fine to me\."/);
  });

  it('a verdict call without a boolean pass is an error that shows the call, never a pass', async () => {
    const turn = await agentTurn('Please give me your order number.');
    const { llm: judge } = await model(scriptedReplies([{ toolCalls: [{ name: 'verdict', arguments: { pass: 'yes', reason: 'Fine.' } }] }]));
    const failure = await turn.expect.judge(judge, 'asks for the order number').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ProtocolError);
    // Before, it said the judge gave "no verdict call" and quoted its (empty) text.
    expect((failure as Error).message).toBe('The judge (openai judge-model) called verdict with arguments that are not a verdict (pass must be true or false): {"pass":"yes","reason":"Fine."}');
  });

  it('fails without asking the judge when the next event is not a message', async () => {
    const { llm } = await model(scriptedReplies([{ toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-1' } }] }, 'Done.']));
    const turn = await new TextSession({ llm }).run('Where is A-1?');
    const { emu, llm: judge } = await model(politeOrderJudge);
    await expect(turn.expect.judge(judge, 'anything')).rejects.toThrow(/Expected event #0 to be a message that meets 'anything', but it is tool_call lookup_order/);
    expect(emu.record.bodies).toHaveLength(0);
  });

  it('a judge that hangs is cut off at timeoutMs with a TimeoutError', async () => {
    const turn = await agentTurn('Please give me your order number.');
    const hanging = { provider: 'stuck', model: 'm', async *respond(_h: readonly ChatMessage[]): AsyncGenerator<LlmEvent> { await new Promise(() => {}); } };
    const started = Date.now();
    await expect(turn.expect.judge(hanging, 'asks for the order number', { timeoutMs: 50 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('judgeReply judges any text, with the user text as optional context', async () => {
    const { llm: judge } = await model(politeOrderJudge);
    expect(await judgeReply(judge, 'asks for the order number politely', 'Your order number, please?')).toEqual({ pass: true, reason: 'It asks for the order number and says please.' });
  });
});
