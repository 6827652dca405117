// Deepgram Flux: the model's own turn-taking. An early "eager" end of turn to start a reply on,
// "turn resumed" when the user goes on, and the end of turn with the same transcript.
// Offline, against the Flux emulator:  npx tsx examples/flux.ts
// Live: DEEPGRAM_API_KEY=... npx tsx examples/flux.ts question.wav   (PCM16 mono WAV)
import { DeepgramFluxStt, toneSynthesizer, type AudioFrame } from 'voxline';
import { wavFileInput } from 'voxline/adapters';
import { DeepgramFluxEmulator } from 'voxline/testing';

const live = process.env.DEEPGRAM_API_KEY !== undefined && process.argv[2] !== undefined;
const emulator = live ? undefined : new DeepgramFluxEmulator({ script: ['I want to', 'cancel my plan'] });
await emulator?.start();

// Offline audio: two stretches of voice-like tone with a short pause between, then silence.
async function* offlineAudio(): AsyncGenerator<AudioFrame> {
  const tone = await toneSynthesizer({ msPerChar: 1 })('x'.repeat(800));
  const silence = (ms: number) => new Int16Array(16 * ms);
  for (const part of [silence(200), tone.samples.subarray(0, 16 * 700), silence(280), tone.samples.subarray(0, 16 * 800), silence(700)]) {
    for (let i = 0; i < part.length; i += 320) yield { samples: part.subarray(i, i + 320), sampleRate: 16000 };
  }
}

const stt = new DeepgramFluxStt({
  apiKey: process.env.DEEPGRAM_API_KEY ?? 'offline',
  baseURL: emulator?.baseURL, // undefined: wss://api.deepgram.com/v2
  eagerEotThreshold: 0.4,     // turns on eager_end_of_turn and turn_resumed
  eotThreshold: 0.7,
});
const audio = live ? wavFileInput(process.argv[2]!, { realtime: true, sampleRate: 16000 }) : offlineAudio();
for await (const ev of stt.transcribe(audio)) {
  if (ev.type === 'speech_started' && ev.turnStart) console.log('start of turn (barge in now)');
  if (ev.type === 'eager_end_of_turn') console.log(`eager end of turn: "${ev.text}" (prepare the reply, play nothing yet)`);
  if (ev.type === 'turn_resumed') console.log('turn resumed (drop the prepared reply)');
  if (ev.type === 'final') console.log(`end of turn: "${ev.text}"`);
}
await emulator?.close();
