// Cartesia Sonic as the voice: one WebSocket for the call, a context per reply, the text streamed
// in as continuations, cancel on barge-in, and word timestamps that say what the listener heard.
// Offline, against the Cartesia emulator:  npx tsx examples/cartesia.ts
// Live: CARTESIA_API_KEY=sk_car_... [CARTESIA_VOICE_ID=...] npx tsx examples/cartesia.ts
import { CartesiaTts, sentences } from 'voxline';
import { wavFileOutput } from 'voxline/adapters';
import { CartesiaEmulator } from 'voxline/testing';

const emulator = process.env.CARTESIA_API_KEY ? undefined : new CartesiaEmulator();
await emulator?.start();
const baseURL = emulator?.baseURL; // undefined: wss://api.cartesia.ai
async function* llm(text: string) { for (const word of text.split(/(?<= )/)) yield word; } // stands in for a model's tokens

const tts = new CartesiaTts({
  apiKey: process.env.CARTESIA_API_KEY ?? 'offline',
  voiceId: process.env.CARTESIA_VOICE_ID ?? 'f786b574-daa5-4673-aa0c-cbe3e8534c02',
  model: 'sonic-3',
  sampleRate: 16000,          // raw pcm_s16le at the output's rate; encoding: 'pcm_mulaw' (8 kHz) for a phone call
  baseURL,
});
await tts.warmup();           // the call's one socket, open before the first reply needs it
const speaker = wavFileOutput('cartesia.wav', { sampleRate: 16000 });

// A reply cut off after one second of audio, as a barge-in would: the context is cancelled, its late
// audio dropped, and the word timestamps (each frame's alignment) tell which words were heard.
const bargeIn = new AbortController();
let playedMs = 0;
let heard = '';
try {
  const reply = sentences(llm('Our shop opens at nine in the morning and closes at six. On Saturdays we open at ten, and on Sundays we are closed. '));
  for await (const frame of tts.synthesize(reply, { signal: bargeIn.signal })) {
    frame.alignment?.chars.forEach((c, i) => { if (playedMs + frame.alignment!.startMs[i]! < 1000) heard += c; });
    playedMs += (frame.samples.length * 1000) / frame.sampleRate;
    await speaker.write(frame);
    if (playedMs >= 1000) bargeIn.abort();
  }
} catch (err) {
  if (!bargeIn.signal.aborted) throw err;
}
console.log(`heard before the barge-in: "${heard.trim()}"`);

// The next reply is a new context on the same socket.
for await (const frame of tts.synthesize(sentences(llm('Sure, what else can I do for you? ')))) await speaker.write(frame);

await speaker.close();
await tts.close();
await emulator?.close();
console.log('the audio is in cartesia.wav');
