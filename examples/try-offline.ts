// The README's offline snippet: the agent against the local emulators, with a scripted caller.
// Run: npx tsx examples/try-offline.ts (the package test runs it from the installed tarball).
import { VoiceSession, gateway, toneSynthesizer } from 'voxline';
import { virtualSpeaker } from 'voxline/adapters';
import { GatewayEmulator, ScriptedCaller } from 'voxline/testing';

const line = 'What are your opening hours?';
const emulator = new GatewayEmulator({ apiKey: 'test-key', script: [line], synthesizer: toneSynthesizer() });
await emulator.start();
const aig = gateway({ apiKey: 'test-key', baseURL: emulator.baseURL });
const session = new VoiceSession({ stt: aig.stt('deepgram/nova-3'), llm: aig.llm('any-model'), tts: aig.tts('any-voice') });
const caller = new ScriptedCaller({ lines: [line], synthesizer: toneSynthesizer() });
await session.run({ input: caller.input(session), output: virtualSpeaker() });
for (const entry of session.transcript) console.log(`${entry.role}: ${entry.text}`);
await emulator.close();
