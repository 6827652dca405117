import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { AbortError, AuthError, OpenAiLlm, TimeoutError, ProviderError, ProtocolError, gateway, runToolLoop, tool, type ChatMessage, type LlmEvent, ToolError } from '../../src/index';
import { OpenAiEmulator, GatewayEmulator } from '../../src/testing/index';
import { collect, sleep } from '../helpers';

let emu: OpenAiEmulator | GatewayEmulator;
afterEach(() => emu?.close());
const user = (content: string): ChatMessage[] => [{ role: 'user', content }];

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up an order by id',
  parameters: { type: 'object', properties: { order_id: { type: 'string', pattern: '^[A-Z0-9-]+$' } }, required: ['order_id'], additionalProperties: false },
  execute: async ({ order_id }) => ({ order_id, status: 'shipped', eta: 'Friday' }),
});

describe('OpenAiLlm', () => {
  it('streams text deltas, usage and finish reason; sends the system prompt and stream options', async () => {
    emu = new OpenAiEmulator({ apiKey: 'sk', timeToFirstTokenMs: 20 });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'gpt-4o-mini', instructions: 'Be brief.', temperature: 0.3 });
    const events = await collect(llm.respond(user('hello')));
    expect(events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('')).toBe('Hello! How can I help you today?');
    expect(events.filter((e) => e.type === 'text').length).toBeGreaterThan(3);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    expect(events.find((e) => e.type === 'usage')).toBeTruthy();
    expect(emu.record.bodies[0]).toMatchObject({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, temperature: 0.3, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }] });
  });

  it('assembles parallel tool calls from fragments, even interleaved', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5, interleaveToolCalls: true, responder: () => ({ toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-1' } }, { name: 'lookup_order', arguments: { order_id: 'B-22' } }] }) });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    const events = await collect(llm.respond(user('x'), { tools: [lookupOrder] }));
    const calls = events.filter((e) => e.type === 'tool_call').map((e) => (e as Extract<LlmEvent, { type: 'tool_call' }>).call);
    expect(calls.map((c) => JSON.parse(c.arguments))).toEqual([{ order_id: 'A-1' }, { order_id: 'B-22' }]);
    expect(calls.every((c) => c.id.startsWith('call_') && c.name === 'lookup_order')).toBe(true);
    expect((emu.record.bodies[0] as any).tools[0]).toEqual({ type: 'function', function: { name: 'lookup_order', description: 'Look up an order by id', parameters: lookupOrder.parameters } });
  });

  it('sends extra headers per request and accepts a ready openai client', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    const llm = new OpenAiLlm({ client: new OpenAI({ apiKey: 'sk', baseURL: emu.baseURL }), model: 'm', headers: { 'x-team': 'a' } });
    await collect(llm.respond(user('hi'), { headers: { 'x-aig-tag': 'turn-1' } }));
    expect(emu.record.connections[0]!.headers['x-aig-tag']).toBe('turn-1');
  });

  it('retries 429 with retry-after and 500 before the first token', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    emu.inject({ refuse: { count: 2, status: 429, retryAfter: 0.05 } });
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm', maxRetries: 2 });
    const events = await collect(llm.respond(user('hi')));
    expect(events.some((e) => e.type === 'text')).toBe(true);
    emu.inject({ refuse: { count: 3, status: 500 } });
    const err = await collect(llm.respond(user('hi'))).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.status).toBe(500);
    expect(err.retryable).toBe(true);
  });

  it('does not retry after the first token: a mid-stream error is a typed error', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    emu.inject({ closeMidStream: { afterMessages: 3 } });
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    const seen: LlmEvent[] = [];
    const err = await (async () => { for await (const e of llm.respond(user('tell me a story'))) seen.push(e); })().catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(seen.filter((e) => e.type === 'text').length).toBe(2);
    expect(emu.record.bodies.length).toBe(1);
  });

  it('maps a wrong key to AuthError without the key, and a malformed event to ProtocolError', async () => {
    emu = new OpenAiEmulator({ apiKey: 'right', timeToFirstTokenMs: 5 });
    await emu.start();
    const bad = new OpenAiLlm({ apiKey: 'sentinel-llm-key-987', baseURL: emu.baseURL, model: 'm' });
    const err = await collect(bad.respond(user('hi'))).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.provider).toBe('openai');
    expect(String(err.message) + String(err.stack)).not.toContain('sentinel-llm-key-987');
    emu.inject({ malformed: true });
    const good = new OpenAiLlm({ apiKey: 'right', baseURL: emu.baseURL, model: 'm' });
    await expect(collect(good.respond(user('hi')))).rejects.toBeInstanceOf(ProtocolError);
  });

  it('aborts at once, before and during the stream', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 500 });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 50);
    await expect(collect(llm.respond(user('hi'), { signal: ac.signal }))).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - t0).toBeLessThan(400);
    const ac2 = new AbortController();
    const fast = new OpenAiLlm({ client: new OpenAI({ apiKey: 'sk', baseURL: emu.baseURL }), model: 'm' });
    emu.opts.timeToFirstTokenMs = 5;
    const seen: string[] = [];
    const err = await (async () => { for await (const e of fast.respond(user('tell me a story'), { signal: ac2.signal })) { if (e.type === 'text') { seen.push(e.delta); if (seen.length === 2) ac2.abort(); } } })().catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(seen.length).toBe(2);
  });

  it('sends max_completion_tokens (reasoning models refuse max_tokens), or max_tokens when asked', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    const events = await collect(new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'o4-mini', maxTokens: 200, maxRetries: 0 }).respond(user('hello')));
    expect(events.some((e) => e.type === 'text')).toBe(true);
    expect(emu.record.bodies[0]).toMatchObject({ max_completion_tokens: 200 });
    expect(emu.record.bodies[0]).not.toHaveProperty('max_tokens');
    await collect(new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'llama3.1', maxTokens: 50, maxTokensParam: 'max_tokens' }).respond(user('hello')));
    expect(emu.record.bodies[1]).toMatchObject({ max_tokens: 50 });
    expect(emu.record.bodies[1]).not.toHaveProperty('max_completion_tokens');
  });

  it('does not count the retry waits after a 429 as a stall', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    emu.inject({ refuse: { count: 1, status: 429, retryAfter: 0.8 } });
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm', maxRetries: 1, stallTimeoutMs: 300, firstTokenTimeoutMs: 400 });
    const events = await collect(llm.respond(user('hello')));
    expect(events.some((e) => e.type === 'text')).toBe(true);
    expect(emu.record.bodies.length).toBe(1);
  });

  it('gives the first token its own budget, longer than the stall budget, and enforces both', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 700 });
    await emu.start();
    const slowStart = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'o3', stallTimeoutMs: 300, firstTokenTimeoutMs: 2000 });
    expect((await collect(slowStart.respond(user('hello')))).some((e) => e.type === 'text')).toBe(true);
    const t0 = performance.now();
    const err = await collect(new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'o3', firstTokenTimeoutMs: 250 }).respond(user('hello'))).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toMatch(/first token within 250 ms/);
    expect(performance.now() - t0).toBeLessThan(650);
    emu.opts.timeToFirstTokenMs = 5;
    emu.inject({ stall: { afterMessages: 3 } });
    const stall = await collect(new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm', stallTimeoutMs: 200 }).respond(user('tell me a story'))).catch((e) => e);
    expect(stall).toBeInstanceOf(TimeoutError);
    expect(stall.message).toMatch(/nothing for 200 ms/);
  });

  it('an abort during a retry wait rejects at once', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    emu.inject({ refuse: { count: 1, status: 429, retryAfter: 5 } });
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm', maxRetries: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = performance.now();
    await expect(collect(llm.respond(user('hi'), { signal: ac.signal }))).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('still times each attempt through a ready client with its own fetch', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    let fetched = 0;
    const client = new OpenAI({ apiKey: 'sk', baseURL: emu.baseURL, fetch: (url, init) => { fetched++; return fetch(url, init); } });
    await collect(new OpenAiLlm({ client, model: 'm' }).respond(user('hi')));
    expect(fetched).toBe(1);
  });

  it('works through the gateway with one key and a tag header', async () => {
    emu = new GatewayEmulator({ apiKey: 'sk-aig-x', timeToFirstTokenMs: 5 });
    await emu.start();
    const llm = gateway({ apiKey: 'sk-aig-x', baseURL: emu.baseURL, tag: 'support-bot' }).llm('moonshot/kimi-k2.6');
    const events = await collect(llm.respond(user('hello')));
    expect(events.some((e) => e.type === 'text')).toBe(true);
    expect(emu.record.connections[0]!.headers['x-aig-tag']).toBe('support-bot');
    expect(llm.provider).toBe('gateway');
  });
});

describe('tools and the tool loop', () => {
  it('runs a call, feeds the result back and continues the reply', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    const history = user('Where is order A-1?');
    const events = await collect(runToolLoop(llm, history, { tools: [lookupOrder] }));
    const text = events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('');
    expect(text).toContain('status shipped');
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(JSON.parse(history[2]!.content as string)).toEqual({ order_id: 'A-1', status: 'shipped', eta: 'Friday' });
  });

  it('reports bad arguments, a throwing handler and a timeout to the model as tool errors', async () => {
    const cases: [string, any, RegExp][] = [
      ['bad args', { order_id: 'lower case!' }, /must match/],
      ['missing', {}, /required/],
    ];
    for (const [, args, msg] of cases) {
      emu = new OpenAiEmulator({ timeToFirstTokenMs: 5, responder: (r) => (r.messages.at(-1)!.role === 'tool' ? { content: `got ${r.messages.at(-1)!.content}` } : { toolCalls: [{ name: 'lookup_order', arguments: args }] }) });
      await emu.start();
      const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
      const events = await collect(runToolLoop(llm, user('x'), { tools: [lookupOrder] }));
      const result = events.find((e) => e.type === 'tool_result') as any;
      expect(result.outcome.ok).toBe(false);
      expect(result.outcome.error).toBeInstanceOf(ToolError);
      expect(result.outcome.error.message).toMatch(msg);
      await emu.close();
    }
    const throws = tool({ name: 'boom', description: '', parameters: { type: 'object' }, execute: () => { throw new Error('database down'); } });
    const hangs = tool({ name: 'hang', description: '', parameters: { type: 'object' }, timeoutMs: 50, execute: () => new Promise(() => {}) });
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5, responder: (r) => (r.messages.at(-1)!.role === 'tool' ? { content: 'ok' } : { toolCalls: [{ name: 'boom', arguments: {} }, { name: 'hang', arguments: {} }] }) });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    const history = user('x');
    const events = await collect(runToolLoop(llm, history, { tools: [throws, hangs] }));
    const results = events.filter((e) => e.type === 'tool_result') as any[];
    expect(results.map((r) => r.outcome.error.message)).toEqual([expect.stringMatching(/database down/), expect.stringMatching(/within 50 ms/)]);
    expect(history.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content as string).error)).toHaveLength(2);
  });

  it('lets a hook veto or replace a call, and stops at the step limit', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5, responder: () => ({ toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-1' } }] }) });
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: emu.baseURL, model: 'm' });
    let ran = 0;
    const spy = { ...lookupOrder, execute: async () => { ran++; return 'real'; } };
    const history = user('x');
    const after: string[] = [];
    await collect(runToolLoop(llm, history, { tools: [spy], maxSteps: 3, beforeToolCall: () => ({ result: 'from hook' }), afterToolCall: (_c, o) => { after.push(String((o as any).result)); } }));
    expect(ran).toBe(0);
    expect(after).toEqual(['from hook', 'from hook']); // the third request offered no tools
    expect(emu.record.bodies.length).toBe(3);
    expect((emu.record.bodies[2] as any).tools).toBeUndefined();
  });
});
