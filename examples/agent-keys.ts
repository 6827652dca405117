// The same agent with one key per provider: Deepgram, any OpenAI-compatible LLM, ElevenLabs.
// Run: DEEPGRAM_API_KEY=... OPENAI_API_KEY=... ELEVENLABS_API_KEY=... npx tsx examples/agent-keys.ts
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession } from 'voxline';
import { soxMic, soxSpeaker } from 'voxline/adapters';

const session = new VoiceSession({
  stt: new DeepgramStt({ apiKey: process.env.DEEPGRAM_API_KEY!, model: 'nova-3', endpointing: 300 }),
  llm: new OpenAiLlm({
    apiKey: process.env.OPENAI_API_KEY!,
    baseURL: process.env.OPENAI_BASE_URL,          // OpenAI, Kimi, vLLM, Ollama...
    model: process.env.LLM_MODEL ?? 'gpt-4o-mini',
    instructions: 'You are a helpful voice assistant. Keep answers short.',
  }),
  tts: new ElevenLabsTts({ apiKey: process.env.ELEVENLABS_API_KEY!, voiceId: '21m00Tcm4TlvDq8ikWAM', outputFormat: 'pcm_16000' }),
  greeting: 'Hi! How can I help?',
  hangUpPhrases: ['goodbye'],
  goodbye: 'Goodbye!',
});
await session.run({ input: soxMic(), output: soxSpeaker() });
