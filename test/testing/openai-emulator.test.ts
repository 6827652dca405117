import { afterEach, describe, expect, it } from 'vitest';
import { type Clock, realClock } from '../../src/index';
import { OpenAiEmulator, virtualClock } from '../../src/testing/index';

let emu: OpenAiEmulator;
afterEach(() => emu?.close());

async function sse(url: string, body: unknown, key = 'sk-test', clock: Clock = realClock) {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const t0 = clock.now(); // headers are sent when the request is taken: TTFT counts from here
  if (!res.ok) return { res, events: [] as any[], times: [] as number[], t0 };
  const events: any[] = [];
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as any as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      expect(line.startsWith('data: ')).toBe(true);
      const data = line.slice(6);
      events.push(data === '[DONE]' ? data : JSON.parse(data));
      times.push(clock.now());
    }
  }
  return { res, events, times, t0 };
}

describe('OpenAiEmulator', () => {
  it('streams content chunks, finish_reason, the usage chunk and [DONE], at the configured TTFT', async () => {
    // On a virtual clock the emulated delays are exact, whatever the machine's load.
    const clock = virtualClock();
    emu = new OpenAiEmulator({ apiKey: 'sk-test', timeToFirstTokenMs: 120, tokensPerSecond: 100, clock });
    await emu.start();
    const { res, events, times, t0 } = await sse(`${emu.baseURL}/chat/completions`, {
      model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello' }],
    }, 'sk-test', clock);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(events[0]).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null });
    const text = events.slice(1).filter((e) => e !== '[DONE]' && e.choices[0]?.delta?.content).map((e) => e.choices[0].delta.content).join('');
    expect(text).toBe('Hello! How can I help you today?');
    expect(new Set(events.filter((e) => e !== '[DONE]').map((e) => e.id)).size).toBe(1);
    const finish = events.find((e) => e !== '[DONE]' && e.choices[0]?.finish_reason);
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    const usage = events[events.length - 2];
    expect(usage.choices).toEqual([]);
    expect(usage.usage.total_tokens).toBe(usage.usage.prompt_tokens + usage.usage.completion_tokens);
    expect(events[events.length - 1]).toBe('[DONE]');
    const ttft = times[1]! - t0;
    expect(ttft).toBe(120);
    // 7 tokens at 100/s: the last about 60 ms after the first.
    expect(times[7]! - times[1]!).toBeGreaterThan(50);
    expect(emu.record.bodies[0]).toMatchObject({ model: 'gpt-4o-mini' });
  });

  it.each([false, true])('streams parallel tool calls (interleaved: %s) as fragments that assemble to valid JSON', async (interleaveToolCalls) => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 10, interleaveToolCalls, responder: () => ({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_time', arguments: { tz: 'Europe/Paris' } }] }) });
    await emu.start();
    const { events } = await sse(`${emu.baseURL}/chat/completions`, { model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }], tools: [] });
    const calls: Record<number, { id?: string; name?: string; args: string }> = {};
    const order: number[] = [];
    for (const e of events) {
      if (e === '[DONE]') continue;
      for (const tc of e.choices[0]?.delta?.tool_calls ?? []) {
        calls[tc.index] ??= { args: '' };
        if (tc.id) { calls[tc.index]!.id = tc.id; calls[tc.index]!.name = tc.function.name; expect(tc.type).toBe('function'); }
        else expect(tc.id).toBeUndefined();
        calls[tc.index]!.args += tc.function.arguments ?? '';
        order.push(tc.index);
      }
    }
    expect(JSON.parse(calls[0]!.args)).toEqual({ city: 'Paris' });
    expect(JSON.parse(calls[1]!.args)).toEqual({ tz: 'Europe/Paris' });
    expect(calls[0]!.name).toBe('get_weather');
    // OpenAI sends calls one after another (PROTOCOLS.md 3.3); interleaving is an opt-in fault.
    if (interleaveToolCalls) expect(order.indexOf(1)).toBeLessThan(order.lastIndexOf(0));
    else expect(order).toEqual([...order].sort());
    expect(events.find((e) => e !== '[DONE]' && e.choices[0]?.finish_reason)!.choices[0].finish_reason).toBe('tool_calls');
  });

  it('answers errors as the real API does: 401, 400, 429 with retry-after, 500', async () => {
    emu = new OpenAiEmulator({ apiKey: 'sk-test' });
    await emu.start();
    const url = `${emu.baseURL}/chat/completions`;
    const r401 = await sse(url, { model: 'm', messages: [{ role: 'user', content: 'x' }] }, 'nope');
    expect(r401.res.status).toBe(401);
    expect((await r401.res.json()).error).toMatchObject({ code: 'invalid_api_key' });
    const r400 = await sse(url, { messages: [] });
    expect(r400.res.status).toBe(400);
    expect((await r400.res.json()).error.param).toBe('model');
    emu.inject({ refuse: { count: 2, status: 429, retryAfter: 1 } });
    const r429 = await sse(url, { model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(r429.res.status).toBe(429);
    expect(r429.res.headers.get('retry-after')).toBe('1');
    expect((await r429.res.json()).error.code).toBe('rate_limit_exceeded');
    expect((await sse(url, { model: 'm', messages: [{ role: 'user', content: 'x' }] })).res.status).toBe(429);
    emu.inject({ refuse: { count: 1, status: 500 } });
    expect((await sse(url, { model: 'm', messages: [{ role: 'user', content: 'x' }] })).res.status).toBe(500);
    expect((await sse(url, { model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] })).res.status).toBe(200);
  });

  it('sends a mid-stream error event when told to close mid-stream', async () => {
    emu = new OpenAiEmulator({ timeToFirstTokenMs: 5 });
    await emu.start();
    emu.inject({ closeMidStream: { afterMessages: 2 } });
    const { events } = await sse(`${emu.baseURL}/chat/completions`, { model: 'm', stream: true, messages: [{ role: 'user', content: 'tell me a story' }] });
    expect(events.length).toBe(3);
    expect(events[2].error.type).toBe('server_error');
  });
});
