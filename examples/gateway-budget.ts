// The gateway's spend cap per x-aig-tag, offline: the emulator caps the tag 'support-bot' at 1 cent
// and each request costs 1 cent, so the second turn is refused (402 budget_exceeded). The session
// hears a BudgetExceededError, says its goodbye line and ends the call ('budget reached') instead
// of apologising into a call that cannot go on. Run: npx tsx examples/gateway-budget.ts
import { BudgetExceededError, VoiceSession, gateway, toneSynthesizer } from 'voxline';
import { virtualSpeaker } from 'voxline/adapters';
import { GatewayEmulator, ScriptedCaller, virtualClock } from 'voxline/testing';

const clock = virtualClock(); // emulated time: the call takes milliseconds
const lines = ['What are your opening hours', 'And on Sundays'];
const emulator = new GatewayEmulator({ apiKey: 'sk-aig-test', script: lines, synthesizer: toneSynthesizer(), clock, budgets: { 'support-bot': 1 }, costCentsPerRequest: 1 });
await emulator.start();
try {
  const aig = gateway({ apiKey: 'sk-aig-test', baseURL: emulator.baseURL, tag: 'support-bot' });
  const session = new VoiceSession({
    stt: aig.stt('deepgram/nova-3'),
    llm: aig.llm('moonshot/kimi-k2.6'),
    tts: aig.tts('elevenlabs/eleven-turbo-v3'),
    goodbye: 'Sorry, I have to end the call here. Please call back later.',
    clock,
  });
  session.on('error', (err) => {
    if (err instanceof BudgetExceededError) console.log(`error: spend cap of tag '${err.tag}' reached (HTTP ${err.status})`);
  });
  session.on('closed', (e) => console.log(`closed: ${e.reason}`));
  const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer(), clock });
  await session.run({ input: caller.input(session), output: virtualSpeaker({ clock }) });
  for (const entry of session.transcript) console.log(`${entry.role}: ${entry.text}`);
  console.log('spend per tag:', JSON.stringify([...emulator.usage.values()]));
} finally {
  await emulator.close();
}
