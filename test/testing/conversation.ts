// The testing suite's own conversation: an order-desk agent, five turns, two tool calls.
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, tool, toneSynthesizer, type Clock } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, TextSession, scriptedReplies, type CallerLine, type TextSessionOptions } from '../../src/testing/index';

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up an order',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: ({ order_id }) => ({ order_id, status: order_id === 'A-17' ? 'shipped' : 'packing' }),
});
const cancelOrder = tool<{ order_id: string; reason?: string }>({
  name: 'cancel_order',
  description: 'Cancel an order',
  parameters: { type: 'object', properties: { order_id: { type: 'string' }, reason: { type: 'string' } }, required: ['order_id'] },
  execute: ({ order_id }) => ({ order_id, cancelled: true }),
});

/** The agent as it would be given to a VoiceSession (without stt and tts). */
export const agent: Omit<TextSessionOptions, 'llm'> = {
  instructions: 'You are the order desk of a small shop.',
  tools: [lookupOrder, cancelOrder],
  hangUpPhrases: ['goodbye'],
  goodbye: 'Thanks for calling, goodbye!',
};

/** The five-turn conversation of the docs and of the determinism test. */
export async function fiveTurns(llm: OpenAiLlm) {
  const session = new TextSession({ ...agent, llm });
  const turns = [
    await session.run('Hello'),
    await session.run('Where is order A-17?'),
    await session.run('Please cancel order B-2, I ordered it twice'),
    await session.run('Thank you'),
    await session.run('Goodbye'),
  ];
  return { session, turns };
}

export const fiveTurnReplies = () =>
  scriptedReplies([
    'Hello! How can I help you today?',
    { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] },
    'Order A-17 has shipped. Anything else?',
    { content: 'Let me cancel that.', toolCalls: [{ name: 'cancel_order', arguments: { order_id: 'B-2', reason: 'duplicate' } }] },
    'Order B-2 is cancelled.',
    "You're welcome!",
  ]);

/** The audio-level conversation: greeting, a tool call, a story cut off by a barge-in, a hang-up. */
export const audioLines: CallerLine[] = [
  { text: 'Hello there' },
  { text: 'Where is order A-17 now' },
  { text: 'Tell me a story please' },
  { text: 'Wait what are your hours', cue: { after: 'agent_speaking', delayMs: 1200 } },
  { text: 'Great thanks goodbye' },
];

/**
 * Runs {@link audioLines} through a VoiceSession against the emulators, every delay on `clock`;
 * returns every session event with its time (ms of the clock since the start).
 */
export async function audioConversation(clock: Clock) {
  const script = audioLines.map((l) => l.text);
  const dg = new DeepgramEmulator({ script, clock });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 320, tokensPerSecond: 60, clock });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer({ msPerChar: 20 }), timeToFirstAudioMs: 180, clock });
  await Promise.all([dg.start(), oa.start(), el.start()]);
  try {
    const session = new VoiceSession({
      ...agent,
      stt: new DeepgramStt({ apiKey: 'k', baseURL: dg.baseURL }),
      llm: new OpenAiLlm({ apiKey: 'k', baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
      tts: new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
      greeting: 'Hi, this is the order desk.',
      goodbye: 'Bye now.',
      clock,
    });
    const t0 = clock.now();
    const events: string[] = [];
    const at = () => `${(clock.now() - t0).toFixed(1)}`;
    session.on('user_turn', (e) => events.push(`${at()} user_turn ${e.text}`));
    session.on('tool_call', (c) => events.push(`${at()} tool_call ${c.name} ${c.arguments}`));
    session.on('tool_result', (r) => events.push(`${at()} tool_result ${r.call.name} ${r.outcome.ok}`));
    session.on('agent_speech_started', (e) => events.push(`${at()} agent_speech_started ${e.text}`));
    session.on('agent_speech_ended', (e) => events.push(`${at()} agent_speech_ended ${e.interrupted} ${e.text}`));
    session.on('interrupted', (e) => events.push(`${at()} interrupted ${e.heardText}`));
    session.on('turn', (t) => events.push(`${at()} turn ${t.index} ${JSON.stringify(t.latency, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(1)) : v))}`));
    session.on('error', (e) => events.push(`${at()} error ${e.message}`));
    session.on('closed', (e) => events.push(`${at()} closed ${e.reason}`));
    const caller = new ScriptedCaller({ lines: audioLines, synthesizer: toneSynthesizer({ msPerChar: 45 }), clock });
    await session.run({ input: caller.input(session, 800), output: virtualSpeaker({ sampleRate: 16000, clock }) });
    return { session, events };
  } finally {
    await Promise.all([dg.close(), oa.close(), el.close()]);
  }
}
