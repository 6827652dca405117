/**
 * OpenAI-compatible chat completions against the official `openai` package types and docs. The
 * emulator's chunks are typed with the package's `ChatCompletionChunk` in its source (a drifted
 * field fails the build); here: the request body's fields, and streams from OpenAI's docs and
 * from OpenAI-compatible servers' captured deviations replayed into OpenAiLlm.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, type LlmEvent, type ToolCall } from '../../src/index';
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
