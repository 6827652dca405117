// Survive a provider's outage: each stage is a chain that moves to the next provider on a retryable
// failure or a timeout, mid-call, without losing the caller's audio or the reply's text.
import { DeepgramAuraTts, DeepgramStt, ElevenLabsTts, OpenAiLlm, OpenAiTts, VoiceSession, fallback, gateway } from 'voxline';
import { soxMic, soxSpeaker } from 'voxline/adapters';

const env = process.env;
const aig = gateway({ apiKey: env.AIGATEWAY_API_KEY });
const tts = fallback([
  new ElevenLabsTts({ apiKey: env.ELEVENLABS_API_KEY!, voiceId: '21m00Tcm4TlvDq8ikWAM', multiContext: true }),
  new DeepgramAuraTts({ apiKey: env.DEEPGRAM_API_KEY!, model: 'aura-2-thalia-en' }),
  new OpenAiTts({ apiKey: env.OPENAI_API_KEY!, voice: 'alloy' }),
], { cooldownMs: 60_000 });                               // back to ElevenLabs after a minute
tts.on('switch', (s) => console.warn(`TTS: ${s.from} -> ${s.to}`, s.error?.message ?? ''));

const session = new VoiceSession({
  stt: fallback([new DeepgramStt({ apiKey: env.DEEPGRAM_API_KEY! }), aig.stt('deepgram/nova-3')]),
  llm: fallback([new OpenAiLlm({ apiKey: env.OPENAI_API_KEY!, model: 'gpt-4o-mini' }), aig.llm('moonshot/kimi-k2.6')]),
  tts,
});
await session.run({ input: soxMic(), output: soxSpeaker() });
