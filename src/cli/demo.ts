// The offline demo: a scripted caller phones a voxline agent. By default every provider is a local
// emulator from voxline/testing at the reference latency budget (STT final 140 ms, LLM first token
// 320 ms, TTS first audio 180 ms), so it needs no key and no network. With keys set it talks to
// the real providers instead (see README); with --mic you are the caller. With --fast (emulators
// only) the call runs on a virtual clock: the same conversation in a fraction of its real time.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  VoiceSession, DeepgramStt, ElevenLabsTts, OpenAiLlm, defaultSynthesizer, gateway, realClock, tool,
  type Clock, type SttStream, type LlmStream, type TtsStream, type TurnEvent,
} from '../index';
import { soxMic, soxSpeaker, virtualSpeaker } from '../adapters/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, ScriptedCaller, virtualClock, type ChatRequest } from '../testing/index';
import { latencyTable, stereoWav, timelineSvg, type SpeechSpan } from './report';

/** How `voxline demo` runs. */
export interface DemoOptions {
  /** Be the caller yourself through SoX (microphone and speaker). */
  mic: boolean;
  /** Emulators on a virtual clock: the same call in a fraction of its real time. */
  fast: boolean;
  /** The folder for conversation.wav, transcript.json and timeline.svg. */
  outDir: string;
  /** The environment to read provider keys from. */
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (live interim transcripts and a progress bar). */
  tty: boolean;
  /** Where the demo writes its lines. */
  write: (text: string) => void;
}

// What the caller says, and when: line 4 interrupts the agent's long answer (a barge-in).
const lines = [
  { text: 'Hi there I need help with an order' },
  { text: 'Where is order 4417' },
  { text: 'Can you tell me about your company' },
  { text: 'Sorry what are your opening hours', cue: { after: 'agent_speaking' as const, delayMs: 2500 } },
  { text: 'Thanks that is all goodbye' },
];

const lookupOrder = tool<{ order_id: string }>({
  name: 'lookup_order',
  description: 'Look up the status of an order by its number',
  parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  execute: async ({ order_id }) => ({ order: order_id, status: 'shipped', arriving: 'Thursday' }),
});

/** The emulated model's answers for this script (a real model needs none of this). */
function demoModel(req: ChatRequest) {
  const last = req.messages[req.messages.length - 1]!;
  if (last.role === 'tool') return { content: 'Good news, order 4417 has shipped and will arrive on Thursday. Anything else?' };
  const said = String(last.content).toLowerCase();
  const order = /order (\d+)/.exec(said);
  if (order) return { toolCalls: [{ name: 'lookup_order', arguments: { order_id: order[1]! } }] };
  if (said.includes('company')) return { content: 'Sure, happy to. We started in a small garage twenty years ago, building radios by hand for our neighbours. Over time the radios became telephones, and the telephones became the voice systems we run today. We now answer calls in eleven countries.' };
  if (said.includes('hours')) return { content: 'Sure, we are open from eight in the morning to six in the evening, Monday to Saturday.' };
  return { content: 'Hello, I can help with that. What is the order number?' };
}

interface Providers { stt: SttStream; llm: LlmStream; tts: TtsStream; stop(): Promise<void>; label: string; clock: Clock }

/** The keys of the demo's per-provider mode: all three, or none of them is used. */
const PROVIDER_KEYS = ['DEEPGRAM_API_KEY', 'OPENAI_API_KEY', 'ELEVENLABS_API_KEY'] as const;

async function providers(o: DemoOptions, fast: boolean, onFallback: (note: string) => void, log: (line: string) => void): Promise<Providers> {
  const env = o.env;
  if (env.AIGATEWAY_API_KEY) {
    const aig = gateway({ apiKey: env.AIGATEWAY_API_KEY, baseURL: env.AIGATEWAY_BASE_URL });
    return { stt: aig.stt('deepgram/nova-3'), llm: aig.llm(env.LLM_MODEL ?? 'moonshot/kimi-k2.6'), tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }), stop: async () => {}, label: 'the gateway (real providers)', clock: realClock };
  }
  if (env.DEEPGRAM_API_KEY && env.OPENAI_API_KEY && env.ELEVENLABS_API_KEY) {
    return {
      stt: new DeepgramStt({ apiKey: env.DEEPGRAM_API_KEY }),
      llm: new OpenAiLlm({ apiKey: env.OPENAI_API_KEY, baseURL: env.OPENAI_BASE_URL, model: env.LLM_MODEL ?? 'gpt-4o-mini' }),
      tts: new ElevenLabsTts({ apiKey: env.ELEVENLABS_API_KEY, voiceId: env.ELEVENLABS_VOICE_ID ?? '21m00Tcm4TlvDq8ikWAM', outputFormat: 'pcm_16000' }),
      stop: async () => {},
      label: 'Deepgram + OpenAI-compatible + ElevenLabs (real providers)',
      clock: realClock,
    };
  }
  // Some keys but not all three: say why the real providers are not used, rather than run offline silently.
  const set = PROVIDER_KEYS.filter((k) => env[k]);
  if (set.length) {
    const missing = PROVIDER_KEYS.filter((k) => !env[k]);
    log(`${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set but not ${missing.join(' or ')}: real providers need all three (or AIGATEWAY_API_KEY alone), so the demo runs on the local emulators`);
  }
  const clock = fast ? virtualClock() : realClock;
  const dg = new DeepgramEmulator({ script: lines.map((l) => l.text), finalDelayMs: 140, clock });
  const llm = new OpenAiEmulator({ timeToFirstTokenMs: 320, tokensPerSecond: 60, responder: demoModel, clock });
  const el = new ElevenLabsEmulator({ timeToFirstAudioMs: 180, synthesizer: await defaultSynthesizer({ voice: 'en-us+f3', onFallback }), clock });
  await Promise.all([dg.start(), llm.start(), el.start()]);
  return {
    stt: new DeepgramStt({ apiKey: 'offline', baseURL: dg.baseURL }),
    llm: new OpenAiLlm({ apiKey: 'offline', baseURL: llm.baseURL, model: 'emulated' }),
    tts: new ElevenLabsTts({ apiKey: 'offline', voiceId: 'emulated', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
    stop: async () => void (await Promise.all([dg.close(), llm.close(), el.close()])),
    label: `local emulators (no keys, no network) at 140/320/180 ms${fast ? ', on a virtual clock' : ''}`,
    clock,
  };
}

/** Runs the demo call; resolves when the call has ended and its files are written. */
export async function runDemo(o: DemoOptions): Promise<void> {
  const fast = o.fast && !o.mic;
  const { tty, write } = o;
  const log = (line: string) => write(`${line}\n`);
  let noted = false; // the note on the tone voice, once
  const onFallback = (note: string) => {
    if (!noted) log(note);
    noted = true;
  };
  const p = await providers(o, fast, onFallback, log);
  log(`voxline demo: providers are ${p.label}\n`);
  try {
    const session = new VoiceSession({
      stt: p.stt, llm: p.llm, tts: p.tts,
      instructions: 'You are the friendly phone agent of a small radio company. Keep answers short.',
      tools: [lookupOrder],
      toolFiller: 'One moment.',
      hangUpPhrases: ['goodbye'],
      goodbye: 'Thanks for calling. Goodbye!',
      clock: p.clock,
    });

    // Show the conversation live.
    const now = () => p.clock.now();
    let t0 = now();
    const at = () => `${((now() - t0) / 1000).toFixed(1).padStart(5)}s`;
    session.on('transcript', (t) => {
      if (t.final) log(`${at()}  caller: ${t.text}${tty ? '\x1b[K' : ''}`); // erase the interim line only on a terminal
      else if (tty) write(`${at()}  caller (hearing): ${t.text}\x1b[K\r`);
    });
    session.on('agent_speech_started', () => log(`${at()}  agent starts speaking`));
    session.on('agent_speech_ended', (a) => log(`${at()}  agent${a.interrupted ? ' (cut off)' : ''}: ${a.text}`));
    session.on('tool_call', (c) => log(`${at()}  tool call: ${c.name}(${c.arguments})`));
    session.on('tool_result', (r) => log(`${at()}  tool result: ${JSON.stringify(r.outcome.ok ? r.outcome.result : r.outcome.error.message)}`));
    session.on('interrupted', (i) => log(`${at()}  ✋ caller barged in after the agent said: "${i.heardText}" (stopped in ${i.latencyMs.toFixed(1)} ms)`));
    session.on('turn', (t) => log(`${at()}  ⏱  voice-to-voice ${t.latency.voiceToVoice.toFixed(0)} ms (voxline overhead ${t.latency.overhead.toFixed(1)} ms)`));
    session.on('error', (e) => log(`${at()}  error: ${e.code}: ${e.message}`));
    const turns: TurnEvent[] = [];
    session.on('turn', (t) => turns.push(t));

    if (o.mic) {
      t0 = now();
      await session.run({ input: soxMic(), output: soxSpeaker() });
      return;
    }
    const caller = new ScriptedCaller({
      lines,
      clock: p.clock,
      synthesizer: await defaultSynthesizer({ voice: 'en-gb', wordsPerMinute: 165, onFallback }),
      onSynthesis: (done, total) => {
        if (tty) write(`\rsynthesising the caller's lines: ${'█'.repeat(done)}${'░'.repeat(total - done)} ${done}/${total}`);
        else if (done === total) write(`synthesised the caller's ${total} lines`);
      },
    });
    await caller.prepare();
    log('\n');
    const speaker = virtualSpeaker({ sampleRate: 16000, record: true, clock: p.clock });
    const agentSpans: SpeechSpan[] = [];
    session.on('agent_speech_started', (a) => agentSpans.push({ who: 'agent', start: now(), end: 0, text: a.text }));
    session.on('agent_speech_ended', (a) => Object.assign(agentSpans[agentSpans.length - 1]!, { end: now(), text: a.text, interrupted: a.interrupted }));
    t0 = now();
    await session.run({ input: caller.input(session), output: speaker });

    log(`\n${latencyTable(turns)}\n`);
    await mkdir(o.outDir, { recursive: true });
    const file = (name: string) => join(o.outDir, name);
    const callerSegs = caller.spoken.map((s) => ({ startAt: s.startedAt, samples: s.audio }));
    await writeFile(file('conversation.wav'), stereoWav(callerSegs, speaker.clock.segments, t0, 16000));
    const spans: SpeechSpan[] = [...caller.spoken.map((s) => ({ who: 'caller' as const, start: s.startedAt, end: s.endedAt, text: s.text })), ...agentSpans.map((s) => ({ ...s, end: s.end || now() }))];
    await writeFile(file('timeline.svg'), timelineSvg(spans, turns, t0));
    await writeFile(file('transcript.json'), JSON.stringify({ providers: p.label, transcript: session.transcript, history: session.history, turns: turns.map((t) => ({ index: t.index, userText: t.userText, latency: t.latency })), summary: session.metrics.summary(), usage: session.usage }, null, 2));
    log(`wrote ${file('conversation.wav')} (caller left, agent right), ${file('transcript.json')}, ${file('timeline.svg')}`);
  } finally {
    await p.stop();
  }
}
