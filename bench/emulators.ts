// Runs the provider emulators in their own process, so the benchmark's CPU and memory figures
// are voxline's alone. Prints one JSON line with the URLs, then serves until stdin closes.
import { toneSynthesizer } from '../src/index';
import { DeepgramFluxEmulator } from '../src/testing/deepgram-flux';
import { AuraEmulator, DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, RealtimeEmulator, type ChatRequest } from '../src/testing/index';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { handshakeDelayMs?: number; script?: string[]; speechStartedDelayMs?: number; fast?: boolean };
const reply = (req: ChatRequest) => {
  const said = String(req.messages[req.messages.length - 1]?.content ?? '');
  if (said.includes('story')) return { content: 'Sure, here is a long one. We started in a small garage twenty years ago, building radios by hand. Over time the radios became telephones, and the telephones became the voice systems we run today. We now answer calls in eleven countries, every day of the year.' };
  return { content: 'Sure, that is done. Anything else?' };
};
const dg = new DeepgramEmulator({ script: cfg.script ?? ['check my order please'], finalDelayMs: 140, handshakeDelayMs: cfg.handshakeDelayMs, speechStartedDelayMs: cfg.speechStartedDelayMs });
const oa = new OpenAiEmulator({ timeToFirstTokenMs: cfg.fast ? 5 : 320, tokensPerSecond: cfg.fast ? 1000 : 60, responder: reply });
const el = new ElevenLabsEmulator({ timeToFirstAudioMs: cfg.fast ? 5 : 180, realtimeFactor: cfg.fast ? 0.01 : 0.5, synthesizer: toneSynthesizer({ sampleRate: 16000, msPerChar: 55 }), handshakeDelayMs: cfg.handshakeDelayMs, maxPayload: 8 << 20 });
// Aura: the same voice and timing, without alignment.
const aura = new AuraEmulator({ timeToFirstAudioMs: cfg.fast ? 5 : 180, realtimeFactor: cfg.fast ? 0.01 : 0.5, synthesizer: toneSynthesizer({ sampleRate: 16000, msPerChar: 55 }), handshakeDelayMs: cfg.handshakeDelayMs });
// A realtime model at the same budget: 140 ms of silence before the end of turn, then
// 320 + 180 ms to its first audio (the LLM's first token and the TTS's first audio above).
const rt = new RealtimeEmulator({ script: cfg.script ?? ['check my order please'], responder: reply, timeToFirstAudioMs: cfg.fast ? 10 : 500, realtimeFactor: cfg.fast ? 0.01 : 0.5, synthesizer: toneSynthesizer({ sampleRate: 16000, msPerChar: 55 }), maxPayload: 8 << 20 });
// Flux at the same budget: its end-of-turn confidence ramps over 200 ms of silence, so the default
// eot_threshold 0.7 ends the turn 140 ms after speech, and an eager_eot_threshold of 0.3 at 60 ms.
const flux = new DeepgramFluxEmulator({ script: cfg.script ?? ['check my order please'], confidenceRampMs: 200 });
await Promise.all([dg.start(), oa.start(), el.start(), aura.start(), rt.start(), flux.start()]);
console.log(JSON.stringify({ listen: dg.baseURL, llm: oa.baseURL, tts: el.baseURL, aura: aura.baseURL, realtime: rt.baseURL, flux: flux.baseURL }));
process.stdin.resume();
process.stdin.on('end', () => void Promise.all([dg.close(), oa.close(), el.close(), aura.close(), rt.close(), flux.close()]).then(() => process.exit(0)));
