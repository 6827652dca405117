// Each stage stands alone: transcribe a WAV file, answer it, speak the answer into another WAV.
// Runs offline against the emulators: npx tsx examples/stages-by-hand.ts
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, defaultSynthesizer, sentences, textOf, writeWav, type ChatMessage } from 'voxline';
import { wavFileInput, wavFileOutput } from 'voxline/adapters';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from 'voxline/testing';
import { writeFile } from 'node:fs/promises';

const dg = new DeepgramEmulator({ script: ['Hello is anybody there'] });
const llmEmu = new OpenAiEmulator();
const el = new ElevenLabsEmulator();
await Promise.all([dg.start(), llmEmu.start(), el.start()]);
const voice = await defaultSynthesizer({ onFallback: console.log }); // eSpeak NG, or a tone voice without it
const said = await voice('Hello is anybody there');
await writeFile('question.wav', writeWav(said.samples, said.sampleRate));

const stt = new DeepgramStt({ apiKey: 'key', baseURL: dg.baseURL });
const llm = new OpenAiLlm({ apiKey: 'key', baseURL: llmEmu.baseURL, model: 'any' });
const tts = new ElevenLabsTts({ apiKey: 'key', voiceId: 'any', baseURL: el.baseURL, outputFormat: 'pcm_16000' });

const history: ChatMessage[] = [];
for await (const ev of stt.transcribe(wavFileInput('question.wav'))) {
  if (ev.type === 'final') history.push({ role: 'user', content: ev.text });
}
const speaker = wavFileOutput('answer.wav', { sampleRate: 16000, keepSilence: false });
const reply = llm.respond(history);                          // AsyncIterable<LlmEvent>
for await (const frame of tts.synthesize(sentences(textOf(reply)))) await speaker.write(frame);
await speaker.close();

console.log(`heard: ${String(history[0]?.content)}; the answer is in answer.wav`);
await Promise.all([dg.close(), llmEmu.close(), el.close(), tts.close()]);
