import { describe, expect, it } from 'vitest';
import { ToolError, tool, type ChatMessage, type LlmEvent, type ToolCall, type ToolOutcome } from '../../src/index';
import { sleep } from '../helpers';
import { final, interim, scriptedSession, toolPairingProblems } from './scripted';

/** A model that calls `lookup` (with `args`) on each user turn, then says what the tool message held. */
function toolModel(args: unknown = '{"id":"A-17"}') {
  const requests: ChatMessage[][] = [];
  return {
    requests,
    llm: {
      provider: 'scripted',
      model: 'm',
      async *respond(history: readonly ChatMessage[]): AsyncGenerator<LlmEvent> {
        requests.push([...history]);
        const problems = toolPairingProblems(history);
        // as OpenAI answers such a request
        if (problems.length) throw new Error(`400 An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. (${problems.join('; ')})`);
        const last = history.at(-1)!;
        await sleep(5);
        if (last.role === 'user') yield { type: 'tool_call', call: { id: `call_${requests.length}`, name: 'lookup', arguments: args as string } };
        else yield { type: 'text', delta: `The tool said ${String(last.content)}.` };
        yield { type: 'finish', reason: 'stop' };
      },
    },
  };
}
const lookup = (execute: () => unknown, timeoutMs?: number) => tool({ name: 'lookup', description: 'Look up an order', parameters: { type: 'object' }, execute, ...(timeoutMs ? { timeoutMs } : {}) });
const circular = () => {
  const o: Record<string, unknown> = { status: 'shipped' };
  o.self = o;
  return o;
};

describe('VoiceSession: a failed tool step', () => {
  for (const [name, execute, args] of [
    ['a BigInt result', () => ({ total: 12n }), undefined],
    ['a circular result', circular, undefined],
    ['arguments that are not a string', () => 'shipped', { id: 'A-17' }],
  ] as const) {
    it(`${name} is a ToolError the model sees: it answers, history stays valid, the next turn is answered`, async () => {
      const m = toolModel(args);
      const results: ToolOutcome[] = [];
      const t = await scriptedSession(m.llm, { tools: [lookup(execute)] });
      t.session.on('tool_result', (r) => results.push(r.outcome));
      try {
        let spoke = t.spoke();
        t.stt.offer(final('Where is my order'));
        expect((await spoke).text).toMatch(/^The tool said \{"error":/);
        spoke = t.spoke();
        t.stt.offer(final('And the other one'));
        expect((await spoke).text).toMatch(/^The tool said/);
      } finally {
        await t.close();
      }
      expect(results.length).toBe(2);
      expect(results[0]!.ok).toBe(false);
      expect(!results[0]!.ok && results[0]!.error).toBeInstanceOf(ToolError);
      expect(toolPairingProblems(t.session.history)).toEqual([]);
      expect(t.session.history.map((h) => h.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'tool', 'assistant']);
      expect(t.errors).toEqual([]);
    });
  }
});

describe('VoiceSession: tool hooks with a deadline', () => {
  for (const hook of ['beforeToolCall', 'afterToolCall', 'toolErrorMessage'] as const) {
    it(`a ${hook} that never resolves ends at the tool's timeout: the model is told, the next turn is answered`, async () => {
      const m = toolModel();
      const signals: AbortSignal[] = [];
      const hang = (_a: unknown, _b: unknown, c?: { signal: AbortSignal }) => { if (c) signals.push(c.signal); return new Promise<never>(() => {}); };
      const hooks = { [hook]: hook === 'toolErrorMessage' ? (_e: ToolError, _c: ToolCall, ctx: { signal: AbortSignal }) => hang(0, 0, ctx) : (_c: ToolCall, x: unknown, ctx?: { signal: AbortSignal }) => hang(0, 0, (ctx ?? x) as { signal: AbortSignal }) };
      const t = await scriptedSession(m.llm, { tools: [lookup(() => { if (hook === 'toolErrorMessage') throw new Error('db down'); return 'shipped'; }, 200)], toolHooks: hooks });
      const started = Date.now();
      try {
        let spoke = t.spoke();
        t.stt.offer(final('Where is my order'));
        expect((await spoke).text).toMatch(/^The tool said/);
        expect(Date.now() - started).toBeLessThan(3000);
        spoke = t.spoke();
        t.stt.offer(final('And the other one'));
        expect((await spoke).text).toMatch(/^The tool said/);
      } finally {
        await t.close();
      }
      expect(signals.length).toBe(2);
      expect(signals.every((s) => s.aborted)).toBe(true);
      expect(toolPairingProblems(t.session.history)).toEqual([]);
    }, 8000);
  }

  it('a barge-in while a tool runs leaves no tool call without its result in history', async () => {
    const m = toolModel();
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    const slow = lookup(() => { running(); return sleep(400).then(() => 'shipped'); });
    const t = await scriptedSession(m.llm, { tools: [slow], toolFiller: { text: 'One moment please.', afterMs: 0 } });
    try {
      const filler = new Promise((r) => t.session.once('agent_speech_started', r));
      const cut = t.spoke();
      t.stt.offer(final('Where is my order'));
      await started;
      await filler;
      t.stt.offer(interim('Never mind that'));
      expect(await cut).toMatchObject({ interrupted: true });
      const next = t.spoke();
      t.stt.offer(final('Never mind that please'));
      expect((await next).text).toMatch(/The tool said shipped/);
    } finally {
      await t.close();
    }
    expect(toolPairingProblems(t.session.history)).toEqual([]);
    expect(m.requests.every((r) => toolPairingProblems(r).length === 0)).toBe(true);
  });
});
