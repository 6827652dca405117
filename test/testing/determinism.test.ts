import { afterAll, describe, expect, it } from 'vitest';
import { OpenAiLlm } from '../../src/index';
import { OpenAiEmulator, virtualClock, type AgentEvent } from '../../src/testing/index';
import { audioConversation, fiveTurnReplies, fiveTurns } from './conversation';

/** An event without the ids the emulator makes up for each call. */
const plain = (ev: AgentEvent) => {
  if (ev.type === 'tool_call') return { type: ev.type, name: ev.name, arguments: ev.arguments };
  if (ev.type === 'tool_result') return { type: ev.type, name: ev.name, ok: ev.ok, result: ev.result, error: ev.error?.message };
  if (ev.type === 'error') return { type: ev.type, message: ev.error.message };
  return ev;
};

describe('determinism: the testing suite\'s own conversation, 20 times', () => {
  const emu = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity });
  afterAll(() => emu.close());

  it('gives the same text-level events every run', async () => {
    await emu.start();
    const llm = new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'test', maxRetries: 0 });
    const runs: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      emu.responder = fiveTurnReplies();
      const { turns } = await fiveTurns(llm);
      runs.push(turns.map((t) => t.events.map(plain)));
    }
    expect(JSON.stringify(runs[0])).toContain('cancel_order');
    for (const run of runs) expect(run).toEqual(runs[0]);
  });

  it('gives the same audio-level events, at the same virtual times and latencies, every run', async () => {
    const runs: string[][] = [];
    for (let i = 0; i < 20; i++) runs.push((await audioConversation(virtualClock())).events);
    const first = runs[0]!;
    // The greeting, two answered turns, a tool call, a story cut off by a barge-in, and the hang-up.
    expect(first.filter((e) => / turn \d /.test(e)).length).toBeGreaterThanOrEqual(4);
    expect(first.some((e) => e.includes('tool_call lookup_order {"order_id":"A-17"}'))).toBe(true);
    expect(first.some((e) => e.includes('interrupted Of course.'))).toBe(true);
    expect(first.at(-1)).toMatch(/closed hang-up$/);
    for (const run of runs) expect(run).toEqual(first);
  }, 60_000);
});
