import { describe, expect, it } from 'vitest';
import { ToolError, runToolLoop, tool, type ChatMessage, type LlmEvent, type ToolOutcome } from '../../src/index';
import { TextSession } from '../../src/testing/index';
import { collect } from '../helpers';

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
});
