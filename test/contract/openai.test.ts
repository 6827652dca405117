/**
 * OpenAI-compatible chat completions against the official `openai` package types and docs. The
 * emulator's chunks are typed with the package's `ChatCompletionChunk` in its source (a drifted
 * field fails the build); here: the request body's fields, and streams from OpenAI's docs and
 * from OpenAI-compatible servers' captured deviations replayed into OpenAiLlm.
 */
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, runToolLoop, tool, type ChatMessage, type LlmEvent, type ToolCall } from '../../src/index';
import { OpenAiEmulator } from '../../src/testing/index';
import { collect } from '../helpers';
import { replaySse } from './replay';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

type ToolCallDelta = ChatCompletionChunk.Choice.Delta.ToolCall;
/** A chunk as OpenAI sends it; `delta` loosened where compatible servers deviate from the type. */
const chunk = (delta: Record<string, unknown>, finish_reason: ChatCompletionChunk.Choice['finish_reason'] = null) =>
  ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1730000000, model: 'm', choices: [{ index: 0, delta, finish_reason, logprobs: null }] }) as ChatCompletionChunk;
const tools = [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object' as const, properties: { location: { type: 'string' as const } } } }];
const callsOf = (events: LlmEvent[]): ToolCall[] => events.flatMap((e) => (e.type === 'tool_call' ? [e.call] : []));

async function replay(events: unknown[], done = true) {
  const server = await replaySse(events, { done });
  cleanup = server.close;
  return collect(new OpenAiLlm({ apiKey: 'k', baseURL: server.baseURL, model: 'm', maxRetries: 0 }).respond([{ role: 'user', content: 'weather?' }], { tools }));
}

describe('the request body', () => {
  it('uses only fields of the package’s ChatCompletionCreateParamsStreaming', async () => {
    const fields = { model: 1, messages: 1, stream: 1, stream_options: 1, tools: 1, temperature: 1, max_completion_tokens: 1, max_tokens: 1 } satisfies Partial<Record<keyof ChatCompletionCreateParamsStreaming, 1>>;
    const emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    cleanup = () => emu.close();
    await collect(new OpenAiLlm({ apiKey: 'k', baseURL: emu.baseURL, model: 'gpt-4o-mini', temperature: 0.2, maxTokens: 100 }).respond([{ role: 'user', content: 'hi' }], { tools }));
    for (const k of Object.keys(emu.record.bodies[0] as object)) expect(Object.keys(fields), k).toContain(k);
  });
});

describe('streams replayed into OpenAiLlm', () => {
  it('OpenAI docs (function calling, streaming): fragments keyed by index, null fields ignored', async () => {
    // platform.openai.com/docs/guides/function-calling#streaming: the printed delta.tool_calls.
    const deltas: ToolCallDelta[][] = [
      [{ index: 0, id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', function: { arguments: '', name: 'get_weather' }, type: 'function' }],
      ...['{"', 'location', '":"', 'Paris', ',', ' France', '"}'].map((a) => [{ index: 0, id: null, function: { arguments: a, name: null }, type: null } as unknown as ToolCallDelta]),
    ];
    const events = await replay([chunk({ role: 'assistant', content: null }), ...deltas.map((tool_calls) => chunk({ tool_calls })), chunk({}, 'tool_calls')]);
    expect(callsOf(events)).toEqual([{ id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', arguments: '{"location":"Paris, France"}' }]);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
  });

  it('Gemini’s compatible endpoint: whole calls without index, ended by finish_reason "stop"', async () => {
    // The chunk measured in THU-MAIC/OpenMAIC#1556 (Google's /v1beta/openai), thought signature elided;
    // a second call as Gemini sends parallel calls (openai/openai-python#2806, litellm#11558).
    const first = { extra_content: { google: { thought_signature: 'sig' } }, function: { arguments: '{"location":"Paris"}', name: 'get_weather' }, id: 'call_297140', type: 'function' };
    const second = { function: { arguments: '{"location":"Berlin"}', name: 'get_weather' }, id: 'call_297141', type: 'function' };
    const events = await replay([
      { choices: [{ delta: { role: 'assistant', tool_calls: [first] }, index: 0 }], model: 'gemini-3.8-flash', object: 'chat.completion.chunk' },
      { choices: [{ delta: { role: 'assistant', tool_calls: [second] }, index: 0 }], model: 'gemini-3.8-flash', object: 'chat.completion.chunk' },
      { choices: [{ delta: {}, finish_reason: 'stop', index: 0 }], model: 'gemini-3.8-flash', object: 'chat.completion.chunk' },
    ]);
    expect(callsOf(events)).toEqual([
      { id: 'call_297140', name: 'get_weather', arguments: '{"location":"Paris"}' },
      { id: 'call_297141', name: 'get_weather', arguments: '{"location":"Berlin"}' },
    ]);
  });

  it('argument pieces with neither index nor id go to the last call opened', async () => {
    // open-webui/computer#224: Gemini may split arguments over indexless deltas.
    const events = await replay([
      chunk({ tool_calls: [{ id: 'function-call-1', type: 'function', function: { name: 'get_weather', arguments: '{"location":' } }] }),
      chunk({ tool_calls: [{ function: { arguments: '"Sydney"}' } }] }),
      chunk({}, 'stop'),
    ]);
    expect(callsOf(events)).toEqual([{ id: 'function-call-1', name: 'get_weather', arguments: '{"location":"Sydney"}' }]);
  });

  it('a name repeated on every fragment is assigned, not appended', async () => {
    const events = await replay([
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'get_weather', arguments: '"Oslo"}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    expect(callsOf(events)).toEqual([{ id: 'call_1', name: 'get_weather', arguments: '{"location":"Oslo"}' }]);
  });

  it('a stream that ends without finish_reason still delivers its calls', async () => {
    for (const done of [true, false]) {
      const events = await replay([chunk({ tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] })], done);
      expect(callsOf(events)).toEqual([{ id: 'call_9', name: 'get_weather', arguments: '{}' }]);
      expect(events.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
      await cleanup?.();
      cleanup = undefined;
    }
  });

  it('every call is complete before the next starts when a server numbers all calls 0 but gives each an id', async () => {
    const events = await replay([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Nice"}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    expect(callsOf(events).map((c) => [c.id, c.arguments])).toEqual([['call_a', '{"location":"Rome"}'], ['call_b', '{"location":"Nice"}']]);
  });
});

describe('parallel tool calls come out in the model’s order (by index), on both transports', () => {
  // Two calls whose fragments interleave, index 1 opened first (as a server that streams its
  // parallel calls concurrently may send them).
  const interleaved = [
    chunk({ role: 'assistant', content: null }),
    chunk({ tool_calls: [{ index: 1, id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, id: 'call_o', type: 'function', function: { name: 'lookup_order', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: '{"location":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"order_id":' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: '"Oslo"}' } }, { index: 0, function: { arguments: '"A-1"}' } }] }),
    chunk({}, 'tool_calls'),
  ];
  const ran: string[] = [];
  const loopTools = [
    tool<{ order_id: string }>({ name: 'lookup_order', description: 'Order', parameters: { type: 'object', properties: { order_id: { type: 'string' } } }, execute: async ({ order_id }) => { ran.push('lookup_order'); return `order ${order_id}`; } }),
    tool<{ location: string }>({ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, execute: async ({ location }) => { ran.push('get_weather'); return `sunny in ${location}`; } }),
  ];
  const transports: [string, (baseURL: string) => OpenAiLlm][] = [
    ['direct transport', (baseURL) => new OpenAiLlm({ apiKey: 'k', baseURL, model: 'm', maxRetries: 0 })],
    ['openai package client', (baseURL) => new OpenAiLlm({ client: new OpenAI({ apiKey: 'k', baseURL, maxRetries: 0 }), model: 'm' })],
  ];
  for (const [name, make] of transports) {
    it(`${name}: events, history and tool results in index order`, async () => {
      const server = await replaySse(interleaved);
      cleanup = server.close;
      ran.length = 0;
      const history: ChatMessage[] = [{ role: 'user', content: 'order A-1, and the weather in Oslo?' }];
      // Two steps: the second request offers no tools, so the loop ends after the results.
      const events = await collect(runToolLoop(make(server.baseURL), history, { tools: loopTools, maxSteps: 2 }));
      // The first step's calls (the replay answers the second request with the same calls).
      const firstStep = events.slice(0, events.findIndex((e) => e.type === 'tools_started')) as LlmEvent[];
      expect(callsOf(firstStep).map((c) => [c.id, c.name, c.arguments])).toEqual([
        ['call_o', 'lookup_order', '{"order_id":"A-1"}'],
        ['call_w', 'get_weather', '{"location":"Oslo"}'],
      ]);
      const started = events.find((e) => e.type === 'tools_started') as Extract<(typeof events)[number], { type: 'tools_started' }>;
      expect(started.calls.map((c) => c.name)).toEqual(['lookup_order', 'get_weather']);
      expect(events.filter((e) => e.type === 'tool_result').map((e) => (e as { call: ToolCall }).call.name)).toEqual(['lookup_order', 'get_weather']);
      expect(ran.sort()).toEqual(['get_weather', 'lookup_order']);
      expect(history[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_o', function: { name: 'lookup_order' } }, { id: 'call_w', function: { name: 'get_weather' } }] });
      expect(history.slice(2)).toEqual([
        { role: 'tool', tool_call_id: 'call_o', content: 'order A-1' },
        { role: 'tool', tool_call_id: 'call_w', content: 'sunny in Oslo' },
      ]);
      // The history sent back on the next request keeps that order.
      expect((server.bodies[1] as { messages: ChatMessage[] }).messages.slice(1).map((m) => (m.role === 'tool' ? m.tool_call_id : m.role))).toEqual(['assistant', 'call_o', 'call_w']);
    });
  }

  it('calls without index (Gemini) keep the order they were first seen', async () => {
    const events = await replay([
      chunk({ tool_calls: [{ id: 'g_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } }] }),
      chunk({ tool_calls: [{ id: 'g_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Nice"}' } }] }),
      chunk({}, 'stop'),
    ]);
    expect(callsOf(events).map((c) => c.id)).toEqual(['g_2', 'g_1']);
  });
});
