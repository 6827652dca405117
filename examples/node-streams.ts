// Any Node stream can carry audio: here raw PCM from a child process (SoX reading a file, as a
// phone bridge or a media server would pipe it) goes in, and the agent's audio is piped to stdout.
// Run: npx tsx examples/node-streams.ts question.raw > answer.raw
import { spawn } from 'node:child_process';
import { VoiceSession, gateway } from 'voxline';
import { pcmInput, pcmOutput } from 'voxline/adapters';

const aig = gateway({ apiKey: process.env.AIGATEWAY_API_KEY });
const source = spawn('sox', [process.argv[2] ?? 'question.wav', '-t', 'raw', '-r', '16000', '-e', 'signed', '-b', '16', '-c', '1', '-']);
const session = new VoiceSession({ stt: aig.stt('deepgram/nova-3'), llm: aig.llm('moonshot/kimi-k2.6'), tts: aig.tts('elevenlabs/eleven-turbo-v3') });
await session.run({
  input: pcmInput(source.stdout, { sampleRate: 16000 }),          // raw PCM16 from any Readable
  output: pcmOutput(process.stdout, { sampleRate: 24000 }),       // raw PCM16 to any Writable
});
