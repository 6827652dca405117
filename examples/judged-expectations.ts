// Judged expectations: an LLM decides whether a reply meets a plain-language criterion and, when it
// does not, says why in the assertion message. Offline, the agent and the judge are the OpenAI
// emulator with their answers scripted (deterministic); with OPENAI_API_KEY set, a real model
// answers and a real model judges. Run: npx tsx examples/judged-expectations.ts
import { AssertionError } from 'node:assert';
import { OpenAiLlm, type VoiceSessionOptions } from 'voxline';
import { OpenAiEmulator, TextSession, scriptedReplies } from 'voxline/testing';

const agent = {
  instructions: 'You are the order desk of a small shop. Ask for the order number before anything else, politely.',
} satisfies Partial<VoiceSessionOptions>;
const criterion = 'asks for the order number politely';

// Offline: the judge's answer is scripted as a call to verdict({ pass, reason }).
const model = new OpenAiEmulator({ timeToFirstTokenMs: 0, tokensPerSecond: Infinity, responder: scriptedReplies(['Parcels take three days.']) });
const judge = new OpenAiEmulator({
  timeToFirstTokenMs: 0,
  tokensPerSecond: Infinity,
  responder: scriptedReplies([{ toolCalls: [{ name: 'verdict', arguments: { pass: false, reason: 'It never asks for the order number.' } }] }]),
});
await Promise.all([model.start(), judge.start()]);
try {
  const llm = (baseURL: string) => new OpenAiLlm({ apiKey: 'test', baseURL, model: 'test', maxRetries: 0 });
  const turn = await new TextSession({ ...agent, llm: llm(model.baseURL) }).run('Where is my parcel?');
  await turn.expect.judge(llm(judge.baseURL), criterion);
} catch (err) {
  if (!(err instanceof AssertionError)) throw err;
  console.log(`offline, as expected: ${err.message.split('\n')[0]}`);
} finally {
  await Promise.all([model.close(), judge.close()]);
}

// With a key: a real model as the agent and another request to it as the judge.
if (process.env.OPENAI_API_KEY) {
  const llm = () => new OpenAiLlm({ apiKey: process.env.OPENAI_API_KEY!, model: 'gpt-4o-mini' });
  const turn = await new TextSession({ ...agent, llm: llm() }).run('Where is my parcel?');
  await turn.expect.judge(llm(), `${criterion}, and does not promise a delivery date`);
  console.log(`real model: "${turn.text}" meets the criterion`);
}
