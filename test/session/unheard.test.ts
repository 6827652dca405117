import { describe, expect, it } from 'vitest';
import type { ChatMessage, LlmEvent } from '../../src/index';
import { sleep } from '../helpers';
import { final, interim, scriptedSession } from './scripted';

const llm = {
  provider: 'scripted',
  model: 'm',
  async *respond(history: readonly ChatMessage[]): AsyncGenerator<LlmEvent> {
    yield { type: 'text', delta: `Certainly, you said ${String(history.at(-1)!.content)}. ` };
    yield { type: 'finish', reason: 'stop' };
  },
};

describe('a barge-in before a whole word was heard', () => {
  it('records nothing of the reply in history or transcript; the interrupted event says nothing was heard', async () => {
    // 60 ms a character: "Certainly," takes 600 ms to say
    const t = await scriptedSession(llm, {}, 60);
    const interrupted: { heardText: string; playedMs: number }[] = [];
    t.session.on('interrupted', (e) => interrupted.push(e));
    try {
      const started = new Promise((r) => t.session.once('agent_speech_started', r));
      const cut = t.spoke();
      t.stt.offer(final('Tell me a story'));
      await started;
      await sleep(150);
      t.stt.offer(interim('Wait no'));
      expect(await cut).toMatchObject({ interrupted: true });
      const next = t.spoke();
      t.stt.offer(final('Wait no stop'));
      await next;
    } finally {
      await t.close();
    }
    expect(interrupted).toEqual([expect.objectContaining({ heardText: '' })]);
    expect(interrupted[0]!.playedMs).toBeGreaterThan(0);
    expect(t.session.history).toEqual([
      { role: 'user', content: 'Tell me a story' },
      { role: 'user', content: 'Wait no stop' },
      { role: 'assistant', content: 'Certainly, you said Wait no stop.' },
    ]);
    // (the scripted finals carry no audio times: the user entries' order is not the point here)
    expect(t.session.transcript.filter((e) => e.role === 'agent').map((e) => e.text)).toEqual(['Certainly, you said Wait no stop.']);
    expect(t.session.transcript.filter((e) => e.role === 'user').map((e) => e.text).sort()).toEqual(['Tell me a story', 'Wait no stop']);
  });
});
