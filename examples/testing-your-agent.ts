// Test your own agent offline, as a vitest file you can copy: first what it does, turn by turn as
// text (milliseconds), then a whole phone call as audio on a virtual clock (well under a second).
// Run: npx vitest run examples/testing-your-agent.ts
import { afterAll, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, tool, toneSynthesizer, type VoiceSessionOptions } from 'voxline';
import { virtualSpeaker } from 'voxline/adapters';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, TextSession, scriptedReplies, virtualClock } from 'voxline/testing';

// The agent, defined once: production passes it to a VoiceSession with real providers.
const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up an order by its number',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: ({ order_id }) => ({ order_id, status: 'shipped' }),
});
const agent = {
  instructions: 'You are the order desk of a small shop. Look orders up before answering.',
  tools: [lookupOrder],
  hangUpPhrases: ['goodbye'],
  goodbye: 'Thanks for calling!',
} satisfies Partial<VoiceSessionOptions>;

describe('the agent, turn by turn (text)', () => {
  const llm = new OpenAiEmulator({
    timeToFirstTokenMs: 0,
    tokensPerSecond: Infinity,
    responder: scriptedReplies([
      'Hello! How can I help?',
      { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] },
      'Order A-17 has shipped.',
    ]),
  });
  afterAll(() => llm.close());

  it('looks the order up, says what it found, and hangs up on goodbye', async () => {
    await llm.start();
    const session = new TextSession({ ...agent, llm: new OpenAiLlm({ apiKey: 'test', baseURL: llm.baseURL, model: 'test', maxRetries: 0 }) });

    (await session.run('Hi')).expect.message('Hello! How can I help?').noMoreEvents();

    const turn = await session.run('Where is my order A-17?');
    turn.expect
      .toolCall('lookup_order', { order_id: 'A-17' })
      .toolResult({ status: 'shipped' })
      .message(/shipped/)
      .noMoreEvents();

    (await session.run('Great, goodbye')).expect.message('Thanks for calling!').hangUp().noMoreEvents();
  });
});

// The same test against a real model checks behaviour, not wording.
describe.skipIf(!process.env.OPENAI_API_KEY)('the agent with a real model', () => {
  it('calls lookup_order with the order number', async () => {
    const session = new TextSession({ ...agent, llm: new OpenAiLlm({ apiKey: process.env.OPENAI_API_KEY!, model: 'gpt-4o-mini' }) });
    const turn = await session.run('Where is my order A-17?');
    turn.expect.containsToolCall('lookup_order', { order_id: /A-?17/ });
  }, 30_000);
});

describe('a whole call (audio), on a virtual clock', () => {
  it('answers each line, with latencies in clock time', async () => {
    const clock = virtualClock(); // every delay below runs on it: no waiting in wall time
    const lines = ['Hello there', 'Where is my order A-17'];
    const stt = new DeepgramEmulator({ script: lines, clock }); // "recognises" these lines
    const llm = new OpenAiEmulator({ clock }); // default replies: greets, calls *order* tools
    const tts = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), clock });
    await Promise.all([stt.start(), llm.start(), tts.start()]);

    const session = new VoiceSession({
      ...agent,
      stt: new DeepgramStt({ apiKey: 'test', baseURL: stt.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'test', baseURL: llm.baseURL, model: 'test' }),
      tts: new ElevenLabsTts({ apiKey: 'test', voiceId: 'test', baseURL: tts.baseURL }),
      clock,
    });
    const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer(), clock });
    await session.run({ input: caller.input(session), output: virtualSpeaker({ clock }) });
    await Promise.all([stt.close(), llm.close(), tts.close()]);

    expect(session.transcript.filter((e) => e.role === 'agent').map((e) => e.text)).toEqual([
      'Hello! How can I help you today?',
      'I checked that for you: order id A-17, status shipped. Is there anything else?',
    ]);
    // The emulators' delays, exactly: 180 ms to the first audio, 320 ms to the first token (twice
    // in the second turn: the tool call, then the answer).
    const [first, second] = session.metrics.turns;
    expect(session.metrics.turns.map((t) => t.tts)).toEqual([180, 180]);
    expect(first!.llmTtft).toBe(320);
    expect(second!.llmTtft).toBeGreaterThan(640);
  });
});
