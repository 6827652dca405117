import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm } from '../../src/index';
import { withInstructions } from '../../src/llm/history';
import { replaySse } from '../contract/replay';
import { collect } from '../helpers';

let server: Awaited<ReturnType<typeof replaySse>> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('one system prompt', () => {
  it("a session's instructions and the LLM's own reach the model as one system message", async () => {
    server = await replaySse([{ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'Hi.' }, finish_reason: 'stop' }] }]);
    const llm = new OpenAiLlm({ apiKey: 'k', baseURL: server.baseURL, model: 'm', instructions: 'You are the order desk.' });
    // What VoiceSession sends: its own instructions first in the history.
    const history = withInstructions([{ role: 'user', content: 'Hello' }], 'Keep answers short.');
    await collect(llm.respond(history));
    const messages = server.bodies[0]!.messages as { role: string; content: string }[];
    expect(messages.filter((m) => m.role === 'system')).toEqual([{ role: 'system', content: 'You are the order desk.\n\nKeep answers short.' }]);
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('either one alone is sent as it is', async () => {
    server = await replaySse([{ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'Hi.' }, finish_reason: 'stop' }] }]);
    await collect(new OpenAiLlm({ apiKey: 'k', baseURL: server.baseURL, model: 'm' }).respond(withInstructions([{ role: 'user', content: 'Hello' }], 'Keep answers short.')));
    await collect(new OpenAiLlm({ apiKey: 'k', baseURL: server.baseURL, model: 'm', instructions: 'Be brief.' }).respond([{ role: 'user', content: 'Hello' }]));
    expect(server.bodies.map((b) => (b.messages as { content: string }[])[0])).toEqual([{ role: 'system', content: 'Keep answers short.' }, { role: 'system', content: 'Be brief.' }]);
  });
});
