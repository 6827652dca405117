import { describe, expect, it } from 'vitest';
import { AbortError, ToolError, runToolLoop, tool, type ChatMessage, type LlmEvent, type ToolHookContext, type ToolOutcome } from '../../src/index';
import { TextSession } from '../../src/testing/index';
import { collect } from '../helpers';
import { toolPairingProblems } from '../session/scripted';

/** A model that calls `lookup_order` once, then answers with what the tool message said. */
const llm = {
  provider: 'scripted',
  model: 'm',
  async *respond(history: readonly ChatMessage[]): AsyncGenerator<LlmEvent> {
    const last = history.at(-1)!;
    if (last.role === 'user') yield { type: 'tool_call', call: { id: 'c1', name: 'lookup_order', arguments: '{"order_id":"A-17"}' } };
    else yield { type: 'text', delta: `Tool said ${String(last.content)}` };
    yield { type: 'finish', reason: 'stop' };
  },
};
const lookup = (execute: () => unknown) => tool<{ order_id: string }>({ name: 'lookup_order', description: 'd', parameters: { type: 'object', properties: { order_id: { type: 'string' } } }, execute });

describe('tool hooks', () => {
  it('a vetoed call reaches afterToolCall as ok: false, with the reason, and the model is told', async () => {
    const seen: ToolOutcome[] = [];
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    await collect(runToolLoop(llm, history, { tools: [lookup(() => 'shipped')], beforeToolCall: () => ({ veto: 'orders are private' }), afterToolCall: (_c, o) => void seen.push(o) }));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.ok).toBe(false);
    expect(!seen[0]!.ok && seen[0]!.error).toBeInstanceOf(ToolError);
    expect(history.find((m) => m.role === 'tool')?.content).toBe(JSON.stringify({ error: "The call to 'lookup_order' was refused: orders are private" }));
  });

  it("toolErrorMessage rewrites what the model is told of a failure; the raw text stays in the outcome's error", async () => {
    const failing = lookup(() => {
      throw new Error('connect ECONNREFUSED 10.0.0.5:5432 user=orders password=hunter2');
    });
    const seen: ToolOutcome[] = [];
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    const events = await collect(runToolLoop(llm, history, { tools: [failing], toolErrorMessage: () => 'The order system is unavailable right now.', afterToolCall: (_c, o) => void seen.push(o) }));
    const sent = JSON.stringify(history) + JSON.stringify(events.filter((e) => e.type === 'text'));
    expect(sent).not.toContain('hunter2');
    expect(history.find((m) => m.role === 'tool')?.content).toBe(JSON.stringify({ error: 'The order system is unavailable right now.' }));
    expect(!seen[0]!.ok && seen[0]!.error.message).toContain('hunter2'); // for the app's own logs
  });

  it('a toolErrorMessage hook that throws tells the model only that the tool failed', async () => {
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    await collect(runToolLoop(llm, history, { tools: [lookup(() => { throw new Error('secret detail'); })], toolErrorMessage: () => { throw new Error('bug in the hook'); } }));
    expect(history.find((m) => m.role === 'tool')?.content).toBe(JSON.stringify({ error: "The tool 'lookup_order' failed." }));
  });

  it("the session's toolHooks.toolErrorMessage is applied on the session's own tool path", async () => {
    const failing = lookup(() => {
      throw new Error('password=hunter2');
    });
    const session = new TextSession({ llm, tools: [failing], toolHooks: { toolErrorMessage: () => 'Unavailable.' } });
    const turn = await session.run('Where is A-17?');
    const said = JSON.stringify(session.history);
    expect(said).not.toContain('hunter2');
    expect(said).toContain('Unavailable.');
    expect(turn.events.some((e) => e.type === 'tool_result')).toBe(true);
  });

  const never = () => new Promise<never>(() => {});
  const toolMessage = (history: ChatMessage[]) => JSON.parse(String(history.find((m) => m.role === 'tool')?.content));

  it("a beforeToolCall that never resolves ends at the tool's timeout: a ToolError outcome, the tool never runs, the model answers", async () => {
    let ran = 0;
    let context: ToolHookContext | undefined;
    const seen: ToolOutcome[] = [];
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    const t0 = Date.now();
    const events = await collect(runToolLoop(llm, history, { tools: [{ ...lookup(() => ran++), timeoutMs: 80 }], beforeToolCall: (_c, c) => ((context = c), never()), afterToolCall: (_c, o) => void seen.push(o) }));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ran).toBe(0);
    expect(context!.timeoutMs).toBe(80);
    expect(context!.signal.aborted).toBe(true);
    expect(!seen[0]!.ok && seen[0]!.error).toBeInstanceOf(ToolError);
    expect(!seen[0]!.ok && seen[0]!.error.message).toBe("The beforeToolCall hook of 'lookup_order' did not return within 80 ms");
    expect(toolMessage(history)).toEqual({ error: "The tool 'lookup_order' failed." });
    expect(events.filter((e) => e.type === 'text').length).toBe(1);
    expect(toolPairingProblems(history)).toEqual([]);
  });

  it('hookTimeoutMs is the deadline of every hook; an afterToolCall or toolErrorMessage past it is a ToolError outcome', async () => {
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    const results: ToolOutcome[] = [];
    const t0 = Date.now();
    for await (const ev of runToolLoop(llm, history, { tools: [lookup(() => { throw new Error('down'); })], hookTimeoutMs: 50, toolErrorMessage: never, afterToolCall: never })) if (ev.type === 'tool_result') results.push(ev.outcome);
    expect(Date.now() - t0).toBeLessThan(1000); // the tool's own timeout is 10 s
    expect(!results[0]!.ok && results[0]!.error.message).toBe("The afterToolCall hook of 'lookup_order' did not return within 50 ms");
    expect(toolMessage(history)).toEqual({ error: "The tool 'lookup_order' failed." });
  });

  it('a hook that throws is a ToolError outcome the model sees, with its calls and results in history together', async () => {
    for (const hooks of [{ beforeToolCall: () => { throw new Error('hook bug'); } }, { afterToolCall: async () => { throw new Error('hook bug'); } }]) {
      const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
      const results: ToolOutcome[] = [];
      for await (const ev of runToolLoop(llm, history, { tools: [lookup(() => 'shipped')], ...hooks })) if (ev.type === 'tool_result') results.push(ev.outcome);
      expect(!results[0]!.ok && results[0]!.error.message).toMatch(/^The (before|after)ToolCall hook of 'lookup_order' threw: hook bug$/);
      expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
      expect(toolMessage(history)).toEqual({ error: "The tool 'lookup_order' failed." });
    }
  });

  it("an interrupted turn stops waiting for a hook at once: the hook's signal aborts, history gets neither the calls nor results", async () => {
    const ac = new AbortController();
    let context: ToolHookContext | undefined;
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    setTimeout(() => ac.abort(), 30);
    const t0 = Date.now();
    await expect(collect(runToolLoop(llm, history, { tools: [lookup(() => 'shipped')], signal: ac.signal, beforeToolCall: (_c, c) => ((context = c), never()) }))).rejects.toBeInstanceOf(AbortError);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(context!.signal.aborted).toBe(true);
    expect(history).toEqual([{ role: 'user', content: 'Where is A-17?' }]);
  });

  it('a result that is not JSON (a BigInt, a cycle, a throwing toJSON) is a ToolError outcome the model sees, and afterToolCall sees it', async () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const result of [{ total: 10n }, cycle, { toJSON() { throw new Error('no'); } }]) {
      for (const via of ['execute', 'beforeToolCall'] as const) {
        const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
        const seen: ToolOutcome[] = [];
        const events = await collect(runToolLoop(llm, history, { tools: [lookup(() => result)], ...(via === 'beforeToolCall' ? { beforeToolCall: () => ({ result }) } : {}), afterToolCall: (_c, o) => void seen.push(o) }));
        expect(!seen[0]!.ok && seen[0]!.error.message).toMatch(/^The result of 'lookup_order' cannot be sent to the model as JSON: /);
        expect(toolMessage(history).error).toMatch(/cannot be sent to the model as JSON/);
        expect(toolPairingProblems(history)).toEqual([]);
        expect(events.filter((e) => e.type === 'text').length).toBe(1);
      }
    }
  });

  it('arguments that are not a string are a ToolError outcome; history gets them as a JSON string', async () => {
    const objectArgs = { ...llm, async *respond(history: readonly ChatMessage[]): AsyncGenerator<LlmEvent> {
      if (history.at(-1)!.role === 'user') yield { type: 'tool_call', call: { id: 'c1', name: 'lookup_order', arguments: { order_id: 'A-17' } as unknown as string } };
      else yield { type: 'text', delta: 'ok' };
    } };
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    const results: ToolOutcome[] = [];
    for await (const ev of runToolLoop(objectArgs, history, { tools: [lookup(() => 'shipped')] })) if (ev.type === 'tool_result') results.push(ev.outcome);
    expect(!results[0]!.ok && results[0]!.error.message).toBe("Arguments of 'lookup_order' must be a JSON string, got object");
    expect(history[1]).toMatchObject({ role: 'assistant', tool_calls: [{ function: { arguments: '{"order_id":"A-17"}' } }] });
  });

  it('an interrupted turn does not wait for a tool that ignores its signal', async () => {
    const ac = new AbortController();
    const history: ChatMessage[] = [{ role: 'user', content: 'Where is A-17?' }];
    const seen: ToolOutcome[] = [];
    setTimeout(() => ac.abort(), 30);
    const t0 = Date.now();
    await expect(collect(runToolLoop(llm, history, { tools: [lookup(() => new Promise((r) => setTimeout(() => r('shipped'), 3000).unref()))], signal: ac.signal, afterToolCall: (_c, o) => void seen.push(o) }))).rejects.toBeInstanceOf(AbortError);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(!seen[0]!.ok && seen[0]!.error.message).toBe("Tool 'lookup_order' was cancelled");
    expect(history).toEqual([{ role: 'user', content: 'Where is A-17?' }]);
  });
});
