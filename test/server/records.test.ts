import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, tool, toneSynthesizer, type VoiceSessionOptions } from '../../src/index';
import { type CallRecord, type RecordSink, createVoiceServer, jsonlRecords, type VoiceServer } from '../../src/server/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator, TwilioCallEmulator } from '../../src/testing/index';
import { freePort } from '../helpers';
import { BrowserCaller } from './call-client';

const TOKEN = 'twilio-auth-token-records';
const KEY = 'sk-records-secret-0123456789';

let emus: { close(): Promise<void> }[] = [];
let vs: VoiceServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await vs?.drain();
  vs = undefined;
  await Promise.all(emus.map((e) => e.close()));
  emus = [];
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const speech = (text: string) => toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })(text).then((a) => a.samples);

interface Setup {
  script?: string[];
  session?: Partial<VoiceSessionOptions>;
  agent?: () => never;
  onCallEnd?: (r: CallRecord) => void | Promise<void>;
  records?: RecordSink;
  drainTimeoutMs?: number;
  dgFaults?: DeepgramEmulator['faults'];
}

async function setup(o: Setup = {}) {
  const port = await freePort();
  const dg = new DeepgramEmulator({ script: o.script ?? ['check my order please'] });
  const oa = new OpenAiEmulator({ timeToFirstTokenMs: 20, tokensPerSecond: 400 });
  const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 20 });
  emus.push(dg, oa, el);
  await Promise.all([dg.start(), oa.start(), el.start()]);
  if (o.dgFaults) dg.inject(o.dgFaults);
  dir = await mkdtemp(join(tmpdir(), 'voxline-records-'));
  const file = join(dir, 'calls.jsonl');
  const got: CallRecord[] = [];
  const warnings: string[] = [];
  const sink = jsonlRecords(file);
  vs = createVoiceServer({
    drainTimeoutMs: o.drainTimeoutMs ?? 3000,
    closeTimeoutMs: 2000,
    twilio: { publicUrl: `http://127.0.0.1:${port}`, authToken: TOKEN },
    browser: { public: true },
    logger: { warn: (m) => void warnings.push(m) },
    onCallEnd: o.onCallEnd ?? ((r) => void got.push(r)),
    records: o.records ?? sink,
    agent:
      o.agent ??
      (() =>
        new VoiceSession({
          stt: new DeepgramStt({ apiKey: KEY, baseURL: dg.baseURL }),
          llm: new OpenAiLlm({ apiKey: KEY, baseURL: oa.baseURL, model: 'm', maxRetries: 0 }),
          tts: new ElevenLabsTts({ apiKey: KEY, voiceId: 'v', baseURL: el.baseURL, outputFormat: 'pcm_16000' }),
          prices: { sttPerMinute: 0.01, llmPromptPer1k: 0.001, llmCompletionPer1k: 0.002, ttsPer1kChars: 0.1 },
          logger: { warn: () => {} },
          ...o.session,
        })),
  });
  await vs.listen(port, '127.0.0.1');
  const lines = async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as CallRecord);
  return { ws: `ws://127.0.0.1:${port}`, got, warnings, lines, dg };
}

/** Waits until `n` records came (or a few seconds passed). */
async function records(got: CallRecord[], n: number): Promise<CallRecord[]> {
  for (let i = 0; i < 100 && got.length < n; i++) await new Promise((r) => setTimeout(r, 50));
  return got;
}

async function browser(ws: string): Promise<BrowserCaller> {
  const c = await BrowserCaller.open(`${ws}/browser`);
  if (typeof c === 'number') throw new Error(`call refused: ${c}`);
  return c;
}

describe('call records', () => {
  it('a caller who hangs up (browser stop, Twilio stop): one record each, with transcript, tool calls, usage, cost, metrics; the JSONL file the same; no secret', async () => {
    const lookup = tool({ name: 'lookup_order', description: 'Looks up an order', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] }, execute: async () => ({ status: 'shipped' }) });
    const { ws, got, lines } = await setup({ script: ['my order number is 42'], session: { tools: [lookup] } });
    const page = await browser(ws);
    await page.silence(200);
    await page.say(await speech('my order number is 42'));
    expect(await page.until(() => page.agentReplies >= 1)).toBe(true);
    expect(await page.stop()).toBe(1000);

    const phone = new TwilioCallEmulator({ url: `${ws}/twilio`, authToken: TOKEN, customParameters: { token: 'do-not-record-me' } });
    await phone.connect();
    await phone.silence(200);
    await phone.say([{ samples: await speech('my order number is 42'), sampleRate: 16000 }]);
    for (let i = 0; i < 300 && !phone.messages.some((m) => m.event === 'media'); i++) await phone.silence(20);
    await phone.silence(1500);
    await phone.stop();

    const [b, t] = await records(got, 2);
    expect(got).toHaveLength(2);
    expect(b!.channel).toBe('browser');
    expect(t!.channel).toBe('twilio');
    expect(t!.callSid).toBe(phone.callSid);
    for (const r of [b!, t!]) {
      expect(r.ending).toBe('caller-hung-up');
      expect(r.transcript[0]).toMatchObject({ role: 'user', text: 'my order number is 42' });
      expect(r.transcript.some((e) => e.role === 'agent' && e.text.startsWith('I checked that for you'))).toBe(true);
      expect(r.toolCalls).toEqual([expect.objectContaining({ name: 'lookup_order', arguments: JSON.stringify({ order_id: '42' }), outcome: { ok: true, result: { status: 'shipped' } } })]);
      expect(r.history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
      expect(r.usage.llmCompletionTokens).toBeGreaterThan(0);
      expect(r.usage.ttsCharacters).toBeGreaterThan(0);
      expect(r.cost).toBeGreaterThan(0);
      expect(r.metrics.turns).toBe(1);
      expect(r.metrics.latency).toHaveLength(1);
      expect(r.durationMs).toBeGreaterThan(0);
    }
    await vs!.drain();
    const stored = await lines();
    expect(stored.map((r) => r.id).sort()).toEqual(got.map((r) => r.id).sort());
    const text = JSON.stringify(stored);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('do-not-record-me');
  }, 40_000);

  it('the agent hangs up on a hang-up phrase: ending hang-up, the goodbye in the transcript', async () => {
    const { ws, got } = await setup({ script: ['goodbye'], session: { hangUpPhrases: ['goodbye'], goodbye: 'Bye now.' } });
    const page = await browser(ws);
    await page.silence(200);
    await page.say(await speech('goodbye'));
    await page.until(() => !page.open, 15_000);
    const [r] = await records(got, 1);
    expect(got).toHaveLength(1);
    expect(r).toMatchObject({ ending: 'hang-up', reason: 'hang-up' });
    expect(r!.transcript.map((e) => `${e.role}: ${e.text}`)).toEqual(['user: goodbye', 'agent: Bye now.']);
  }, 30_000);

  it('the agent factory throws: ending error, with the typed error', async () => {
    const { ws, got, lines } = await setup({ agent: () => { throw new Error('no agent today'); } });
    const page = await browser(ws);
    await page.silence(100);
    await page.closed;
    const [r] = await records(got, 1);
    expect(got).toHaveLength(1);
    expect(r).toMatchObject({ ending: 'error', reason: 'the agent factory failed', transcript: [], error: { message: 'no agent today' } });
    await vs!.drain();
    expect(await lines()).toHaveLength(1);
  }, 20_000);

  it('a provider fails for good (the STT refuses the key): ending provider-error, the error named', async () => {
    const { ws, got } = await setup({ dgFaults: { refuse: { count: 10, status: 401 } } });
    const page = await browser(ws);
    await page.until(() => !page.open, 15_000);
    const [r] = await records(got, 1);
    expect(got).toHaveLength(1);
    expect(r!.ending).toBe('provider-error');
    expect(r!.error).toMatchObject({ name: 'AuthError', provider: 'deepgram' });
    expect(JSON.stringify(r)).not.toContain(KEY);
  }, 20_000);

  it('the caller vanishes mid-call (socket cut, no close frame): ending caller-vanished, what was said kept', async () => {
    const { ws, got } = await setup();
    const page = await browser(ws);
    await page.silence(200);
    await page.say(await speech('check my order please'));
    await page.until(() => page.messages.some((m) => m.role === 'agent'));
    await page.vanish();
    const [r] = await records(got, 1);
    expect(got).toHaveLength(1);
    expect(r!.ending).toBe('caller-vanished');
    expect(r!.transcript[0]).toMatchObject({ role: 'user', text: 'check my order please' });
  }, 30_000);

  it('drain: a call still going ends as drain with its record delivered before drain() resolves; a call after it gets none', async () => {
    const { ws, got, lines } = await setup({ drainTimeoutMs: 300 });
    const page = await browser(ws);
    await page.silence(200);
    await page.say(await speech('check my order please'));
    await page.until(() => page.agentReplies >= 1);
    const talking = page.silence(3000); // the caller stays on the line
    await vs!.drain();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ ending: 'drain', reason: 'server draining' });
    expect(got[0]!.transcript.map((e) => e.role)).toEqual(['user', 'agent']);
    expect(await lines()).toHaveLength(1);
    await talking;
    expect(typeof (await BrowserCaller.open(`${ws}/browser`))).toBe('number'); // refused or not listening
    expect(got).toHaveLength(1);
  }, 30_000);

  it('a session that never finishes closing (an STT that ignores the abort) and an agent factory that never answers still leave one record each when the drain gives up on them', async () => {
    const deaf = { transcribe: () => (async function* () { await new Promise(() => {}); })() };
    let n = 0;
    const { ws, got, warnings } = await setup({
      drainTimeoutMs: 200,
      agent: (() => (n++ === 0 ? new VoiceSession({ ...({} as VoiceSessionOptions), stt: deaf as never, llm: { respond: async function* () {} } as never, tts: { synthesize: async function* () {} } as never, logger: { warn: () => {} } }) : new Promise(() => {}))) as never,
    });
    const pages = [await browser(ws), await browser(ws)];
    await Promise.all(pages.map((p) => p.silence(300)));
    expect(vs!.activeCalls).toBe(1);
    await vs!.drain();
    expect(got.map((r) => [r.ending, r.reason.includes('had not finished closing')])).toEqual([['drain', true], ['drain', true]]);
    expect(warnings.some((w) => w.includes('2 call(s) had not finished closing'))).toBe(true);
  }, 30_000);

  it('a throwing hook and a hanging sink break nothing: calls go on, each is logged, the drain ends', async () => {
    const hanging: RecordSink = { write: () => new Promise(() => {}), flush: () => new Promise(() => {}) };
    let calls = 0;
    const { ws, warnings } = await setup({ onCallEnd: () => { calls++; throw new Error('hook exploded'); }, records: hanging });
    for (let i = 0; i < 2; i++) {
      const page = await browser(ws);
      await page.silence(200);
      await page.say(await speech('check my order please'));
      expect(await page.until(() => page.agentReplies >= 1)).toBe(true);
      await page.stop();
    }
    for (let i = 0; i < 40 && calls < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(2);
    const t0 = performance.now();
    await vs!.drain();
    expect(performance.now() - t0).toBeLessThan(12_000);
    expect(warnings.filter((w) => w.includes('the onCallEnd hook failed') && w.includes('hook exploded'))).toHaveLength(2);
    expect(warnings.filter((w) => w.includes('the records sink failed'))).toHaveLength(2);
    expect(warnings.some((w) => w.includes("flush failed"))).toBe(true);
  }, 40_000);
});

describe('jsonlRecords', () => {
  const record = (id: string) => ({ id }) as CallRecord;

  it('appends one JSON line per record in order, and keeps its queue bounded (drops are counted and logged)', async () => {
    const d = await mkdtemp(join(tmpdir(), 'voxline-jsonl-'));
    const warned: string[] = [];
    const sink = jsonlRecords(join(d, 'r.jsonl'), { maxQueue: 3, logger: { warn: (m) => void warned.push(m) } });
    for (let i = 0; i < 5; i++) sink.write(record(`r${i}`));
    await sink.flush();
    for (let i = 5; i < 7; i++) sink.write(record(`r${i}`));
    await sink.close();
    sink.write(record('late'));
    const ids = (await readFile(join(d, 'r.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id);
    // The first write starts at once; the queue holds 3 behind it at most.
    expect(ids.slice(-2)).toEqual(['r5', 'r6']);
    expect(ids.length + sink.dropped).toBe(8);
    expect(sink.dropped).toBeGreaterThanOrEqual(2);
    expect(warned.some((w) => w.includes('dropped'))).toBe(true);
    await rm(d, { recursive: true, force: true });
  });

  it('a file it cannot write is logged, never thrown', async () => {
    const warned: string[] = [];
    const sink = jsonlRecords('/nonexistent-dir/voxline/r.jsonl', { logger: { warn: (m) => void warned.push(m) } });
    sink.write(record('a'));
    await sink.flush();
    expect(sink.dropped).toBe(1);
    expect(warned[0]).toMatch(/could not be written/);
    await sink.close();
  });
});
