import { afterEach, describe, expect, it } from 'vitest';
import { BudgetExceededError, ConfigError, ProviderError, VoiceSession, gateway, toneSynthesizer, type ChatMessage, type VoxlineError } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { GatewayEmulator, ScriptedCaller, TextSession, virtualClock } from '../../src/testing/index';
import { collect } from '../helpers';

let emu: GatewayEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(options: ConstructorParameters<typeof GatewayEmulator>[0] = {}) {
  emu = new GatewayEmulator({ apiKey: 'sk-aig-test', synthesizer: toneSynthesizer(), timeToFirstTokenMs: 0, tokensPerSecond: Infinity, ...options });
  await emu.start();
  return emu;
}

const user = (text: string): ChatMessage[] => [{ role: 'user', content: text }];

async function chat(url: string, tag?: string) {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-aig-test', 'content-type': 'application/json', ...(tag ? { 'x-aig-tag': tag } : {}) },
    body: JSON.stringify({ model: 'm', messages: user('hi'), stream: true }),
  });
}

describe('the gateway emulator: cost tags and hard caps per tag', () => {
  it('charges each served request to its tag and refuses, before dispatch, one that would pass the cap, with 402 budget_exceeded', async () => {
    const gw = await start({ budgets: { 'support-bot': 2 }, costCentsPerRequest: 1 });
    for (let i = 0; i < 2; i++) {
      const ok = await chat(gw.baseURL, 'support-bot');
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-cost-cents')).toBe('1');
      await ok.text();
    }
    const refused = await chat(gw.baseURL, 'support-bot');
    expect(refused.status).toBe(402);
    expect(refused.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await refused.json()) as { error: { type: string; code: number; message: string; param: null } };
    expect(body.error).toMatchObject({ type: 'budget_exceeded', code: 402, param: null });
    expect(body.error.message).toContain("tag 'support-bot'");
    // Not charged; other tags and untagged requests are not capped.
    expect((await chat(gw.baseURL, 'summarize')).status).toBe(200);
    expect((await chat(gw.baseURL)).status).toBe(200);
    const usage = await (await fetch(`${gw.baseURL}/usage/by-tag`, { headers: { authorization: 'Bearer sk-aig-test' } })).json();
    expect(usage).toEqual([{ tag: 'support-bot', requests: 2, cost_cents: 2 }, { tag: 'summarize', requests: 1, cost_cents: 1 }]);
  });

  it('POST /v1/budgets sets a cap, as documented ({ tag, monthly_cap_cents })', async () => {
    const gw = await start();
    const set = await fetch(`${gw.baseURL}/budgets`, { method: 'POST', headers: { authorization: 'Bearer sk-aig-test', 'content-type': 'application/json' }, body: JSON.stringify({ tag: 'summarize', monthly_cap_cents: 0 }) });
    expect(set.status).toBe(200);
    expect((await chat(gw.baseURL, 'summarize')).status).toBe(402);
    const bad = await fetch(`${gw.baseURL}/budgets`, { method: 'POST', headers: { authorization: 'Bearer sk-aig-test' }, body: JSON.stringify({ monthly_cap_cents: 5 }) });
    expect(bad.status).toBe(400);
  });
});

describe('gateway(): the spend cap per x-aig-tag is a typed error', () => {
  it('a 402 is a BudgetExceededError with the tag, not retryable, with the code budget_exceeded', async () => {
    const gw = await start({ budgets: { 'support-bot': 0 } });
    const llm = gateway({ apiKey: 'sk-aig-test', baseURL: gw.baseURL, tag: 'support-bot' }).llm('moonshot/kimi-k2.6', { maxRetries: 2 });
    const err = (await collect(llm.respond(user('hi'))).catch((e: unknown) => e)) as VoxlineError;
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ tag: 'support-bot', status: 402, retryable: false, code: 'budget_exceeded', provider: 'gateway' });
    expect(err.message).toBe("gateway: spend cap reached for tag 'support-bot' (HTTP 402 budget_exceeded): Monthly budget of 0 cents for tag 'support-bot' reached (0 cents spent). Raise the cap with POST /v1/budgets or wait for the month to roll over.");
    expect(gw.record.connections.filter((c) => c.path === '/v1/chat/completions')).toHaveLength(1); // no retry
  });

  it('the tag is set per gateway, per model, or per request, and the error names the one used', async () => {
    const gw = await start({ budgets: { capped: 0 } });
    const aig = gateway({ apiKey: 'sk-aig-test', baseURL: gw.baseURL, tag: 'open' });
    await collect(aig.llm('m').respond(user('hi')));
    const perModel = aig.llm('m', { tag: 'capped' });
    await expect(collect(perModel.respond(user('hi')))).rejects.toMatchObject({ tag: 'capped' });
    await collect(perModel.respond(user('hi'), { headers: { 'X-AIG-Tag': 'open' } }));
    await expect(collect(aig.llm('m').respond(user('hi'), { headers: { 'x-aig-tag': 'capped' } }))).rejects.toMatchObject({ name: 'BudgetExceededError', tag: 'capped' });
    expect(gw.usage.get('open')?.requests).toBe(2);
    expect(() => gateway({ apiKey: 'sk-aig-test', tag: 'x'.repeat(65) })).toThrow(ConfigError);
    expect(() => aig.llm('m', { tag: 'a\nb' })).toThrow(ConfigError);
  });
});

describe('a VoiceSession on the gateway whose tag reaches its cap', () => {
  it('ends the call with a spoken line (not an apology), reports the BudgetExceededError and closes as budget reached', async () => {
    const clock = virtualClock();
    const lines = ['What are your opening hours', 'And on Sundays'];
    const gw = await start({ script: lines, clock, timeToFirstTokenMs: 300, tokensPerSecond: 60, budgets: { 'support-bot': 1 }, costCentsPerRequest: 1 });
    const aig = gateway({ apiKey: 'sk-aig-test', baseURL: gw.baseURL, tag: 'support-bot' });
    const session = new VoiceSession({ stt: aig.stt('deepgram/nova-3'), llm: aig.llm('m', { maxRetries: 0 }), tts: aig.tts('v'), clock, goodbye: 'Sorry, I have to end the call here. Goodbye!' });
    const errors: VoxlineError[] = [];
    let reason: string | undefined;
    session.on('error', (e) => errors.push(e));
    session.on('closed', (e) => void (reason = e.reason));
    const caller = new ScriptedCaller({ lines, synthesizer: toneSynthesizer(), clock });
    await session.run({ input: caller.input(session), output: virtualSpeaker({ clock }) });
    expect(reason).toBe('budget reached');
    expect(errors.map((e) => e.name)).toEqual(['BudgetExceededError']);
    const agent = session.transcript.filter((t) => t.role === 'agent').map((t) => t.text);
    expect(agent.at(-1)).toBe('Sorry, I have to end the call here. Goodbye!');
    expect(agent).not.toContain('Sorry, I ran into a problem. Could you say that again?');
    expect(agent).toHaveLength(2); // the first answer, then the line
  }, 30_000);

  it('TextSession does the same: the line, not an apology, and the conversation ends as budget reached', async () => {
    const gw = await start({ budgets: { 'support-bot': 1 }, costCentsPerRequest: 1 });
    const aig = gateway({ apiKey: 'sk-aig-test', baseURL: gw.baseURL, tag: 'support-bot' });
    const session = new TextSession({ llm: aig.llm('m', { maxRetries: 0 }), goodbye: 'Sorry, I have to end the call here. Goodbye!' });
    await session.run('What are your opening hours');
    const second = await session.run('And on Sundays');
    expect(second.events.map((e) => e.type)).toEqual(['error', 'message', 'hang_up']);
    expect(second.events[0]).toMatchObject({ type: 'error', error: { name: 'BudgetExceededError' } });
    expect(second.text).toBe('Sorry, I have to end the call here. Goodbye!');
    expect(session.endedReason).toBe('budget reached');
  });
});
