import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { credentialOf, Emulator, parseJson } from './emulator';
import { CHECKED_OPTIONS, checkEmulatorOptions } from './emulator-options';
import { DeepgramEmulator, checkListenRequest, type DeepgramEmulatorOptions } from './deepgram';
import { OpenAiEmulator, checkBearer, type OpenAiEmulatorOptions } from './openai';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { SttEngine, type SttEngineEvent, pcm16Reader } from './stt-engine';
import { TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link GatewayEmulator}. */
export interface GatewayEmulatorOptions extends DeepgramEmulatorOptions, Omit<OpenAiEmulatorOptions, keyof DeepgramEmulatorOptions>, TtsTiming {
  /** Speech synthesiser for TTS (default: eSpeak NG when installed, else a tone). */
  synthesizer?: Synthesizer | undefined;
  /**
   * Hard monthly caps per `x-aig-tag`, in cents, as `POST /v1/budgets` sets them: a chat request
   * whose tag would go over its cap is refused before it is served, with 402 `budget_exceeded`.
   */
  budgets?: Record<string, number> | undefined;
  /** What each served chat request costs, in cents (default 1): sent as `X-Cost-Cents` and counted per tag. */
  costCentsPerRequest?: number | undefined;
}

/** Spend of one `x-aig-tag`, as `GET /v1/usage/by-tag` lists it. */
export interface TagUsage {
  /** The tag. */
  tag: string;
  /** Chat requests served under it. */
  requests: number;
  /** What they cost, in cents. */
  cost_cents: number;
}

/** The option names of {@link GatewayEmulator}, for {@link checkEmulatorOptions}. */
const GATEWAY_EMULATOR_OPTIONS: Readonly<Record<keyof GatewayEmulatorOptions, true>> = {
  synthesizer: true, budgets: true, costCentsPerRequest: true, script: true, finalDelayMs: true,
  idleTimeoutMs: true, speechStartedDelayMs: true, closeStreamDelayMs: true,
  timeToFirstTokenMs: true, tokensPerSecond: true, responder: true, speech: true,
  interleaveToolCalls: true, timeToFirstAudioMs: true, realtimeFactor: true, chunkMs: true,
  apiKey: true, port: true, maxPayload: true, handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of the unified gateway, all behind one
 * `Authorization: Bearer` key: OpenAI-compatible chat at `/v1/chat/completions`, streaming STT at
 * `/v1/audio/transcriptions/stream` (PCM16 16 kHz in, `{transcript, is_final}` JSON out) and at
 * the Deepgram-shaped `/v1/realtime`, streaming TTS at `/v1/audio/speech/stream` (`{"text"}` in,
 * PCM16 24 kHz binary out). Chat requests are attributed to their `x-aig-tag`
 * (`GET /v1/usage/by-tag`) and refused with 402 `budget_exceeded` once a tag's hard cap
 * (`budgets`, `POST /v1/budgets`) would be passed.
 */
export class GatewayEmulator extends Emulator {
  /** The chat engine (its responder can be replaced). */
  readonly chat: OpenAiEmulator;
  /** Monthly caps per tag, in cents (from the `budgets` option and `POST /v1/budgets`). */
  readonly budgets: Map<string, number>;
  /** Spend per tag this month. */
  readonly usage = new Map<string, TagUsage>();
  private readonly listen: DeepgramEmulator;
  private synth?: Synthesizer;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: GatewayEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('GatewayEmulator', opts, GATEWAY_EMULATOR_OPTIONS);
    CHECKED_OPTIONS.add(opts); // the OpenAI and Deepgram emulators it is made of take the same object
    this.synth = opts.synthesizer;
    this.chat = new OpenAiEmulator(opts);
    this.listen = new DeepgramEmulator(opts);
    // One record and one fault plan for every endpoint.
    this.chat.record = this.listen.record = this.record;
    this.chat.faults = this.listen.faults = this.faults;
    this.guard = (req, url) => (url.pathname === '/v1/realtime' ? checkListenRequest(req, url, opts.apiKey, ['bearer']) : checkBearer(withQueryKey(req, url), opts.apiKey));
    this.budgets = new Map(Object.entries(opts.budgets ?? {}));
    this.http('/v1/chat/completions', (req, res, _url, body) => this.serveChat(req, res, body));
    this.http('/v1/budgets', (req, res, _url, body) => this.serveBudget(req, res, body));
    this.http('/v1/usage/by-tag', (req, res) => this.serveUsage(req, res));
    this.ws('/v1/realtime', (ws, req, url) => this.listen.serveListen(ws, req, url));
    this.ws('/v1/audio/transcriptions/stream', (ws, _req, url) => this.serveStt(ws, url));
    this.ws('/v1/audio/speech/stream', (ws, _req, url) => this.serveTts(ws, url));
  }

  override async start(): Promise<string> {
    this.synth ??= await defaultSynthesizer();
    return super.start();
  }

  /**
   * Chat with cost tags and hard caps: the spend of the request's `x-aig-tag` is checked before
   * dispatch (an over-budget request is refused with 402 `budget_exceeded` and not charged), a
   * served one is charged to its tag and says its cost in `X-Cost-Cents`.
   */
  private async serveChat(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const tag = headerOf(req, 'x-aig-tag');
    const cost = this.opts.costCentsPerRequest ?? 1;
    const cap = tag === undefined ? undefined : this.budgets.get(tag);
    const spent = tag === undefined ? 0 : this.usage.get(tag)?.cost_cents ?? 0;
    if (cap !== undefined && spent + cost > cap) {
      const message = `Monthly budget of ${cap} cents for tag '${tag}' reached (${spent} cents spent). Raise the cap with POST /v1/budgets or wait for the month to roll over.`;
      return void res.writeHead(402, { 'content-type': 'application/json', 'x-request-id': `req_${randomUUID()}` }).end(JSON.stringify({ error: { message, type: 'budget_exceeded', code: 402, param: null } }));
    }
    res.setHeader('x-cost-cents', String(cost));
    await this.chat.serveChat(req, res, body);
    if (tag === undefined || res.statusCode !== 200) return;
    const u = this.usage.get(tag) ?? { tag, requests: 0, cost_cents: 0 };
    u.requests++;
    u.cost_cents += cost;
    this.usage.set(tag, u);
  }

  /** `POST /v1/budgets` `{ tag, monthly_cap_cents }`: sets a tag's hard cap. */
  private serveBudget(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const json = (status: number, value: unknown) => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.method !== 'POST') return json(405, { error: { message: 'Use POST', type: 'invalid_request_error', code: 405, param: null } });
    const b = parseJson(body) as { tag?: unknown; monthly_cap_cents?: unknown } | undefined;
    if (typeof b?.tag !== 'string' || !b.tag) return json(400, { error: { message: 'tag is required', type: 'invalid_request_error', code: 400, param: 'tag' } });
    if (typeof b.monthly_cap_cents !== 'number' || !(b.monthly_cap_cents >= 0)) return json(400, { error: { message: 'monthly_cap_cents must be a number of cents', type: 'invalid_request_error', code: 400, param: 'monthly_cap_cents' } });
    this.budgets.set(b.tag, b.monthly_cap_cents);
    json(200, { tag: b.tag, monthly_cap_cents: b.monthly_cap_cents });
  }

  /** `GET /v1/usage/by-tag`: `[{ tag, requests, cost_cents }]`; every month is this month, and `?tag=` (an assumed name) filters by one tag. */
  private serveUsage(req: IncomingMessage, res: ServerResponse): void {
    const only = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('tag');
    const rows = [...this.usage.values()].filter((u) => only === null || u.tag === only);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows));
  }

  private serveStt(ws: WebSocket, url: URL): void {
    if (!url.searchParams.get('model')) return void ws.close(1008, 'model is required');
    let emit: (events: SttEngineEvent[]) => void = () => {};
    const engine = new SttEngine(this.listen.script, {
      finalDelayMs: this.opts.finalDelayMs ?? 140, interimResults: true, endpointing: true, vadEvents: true,
      schedule: (ms, fire) => {
        const t = this.later(ms, () => emit(fire()));
        return () => this.cancel(t);
      },
    });
    const send = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
    emit = (events: SttEngineEvent[]) => {
      for (const ev of events) {
        if (ev.type === 'speech_started') send({ type: 'speech_started', timestamp: ev.timestamp });
        else if (ev.type === 'result') send({ type: 'transcript', transcript: ev.text, is_final: ev.isFinal, speech_final: ev.speechFinal, start: ev.start, duration: ev.duration, words: ev.words.map(({ word, start, end }) => ({ word, start, end })) });
      }
    };
    const cut = this.faults.closeMidStream;
    this.faults.closeMidStream = undefined;
    const pcm16 = pcm16Reader();
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.record.audioBytes += (data as Buffer).length;
        this.record.audioMessages++;
        emit(engine.push(pcm16(data as Buffer), 16000));
        if (cut && engine.receivedMs >= (cut.afterMs ?? 0)) return void ws.close(cut.code ?? 1011, cut.reason ?? 'emulated drop');
        return;
      }
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      // The contract knows one text frame, CloseStream (PROTOCOLS.md section 8); KeepAlive is not part of it.
      if (msg?.type === 'CloseStream') {
        emit(engine.finalize());
        ws.close(1000, '');
      } else {
        send({ type: 'error', message: 'Unknown or malformed message' });
      }
    });
  }

  private serveTts(ws: WebSocket, url: URL): void {
    if (!url.searchParams.get('model')) return void ws.close(1008, 'model is required');
    const streamer = new TtsStreamer(this.synth!, 24000, this.opts, (piece) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength));
    });
    ws.on('message', (data) => {
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || typeof msg.text !== 'string') {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', message: 'Expected {"text": string}' }));
        return;
      }
      if (msg.text === '') void streamer.whenIdle().then(() => ws.close(1000, ''));
      else streamer.speak(msg.text);
    });
    ws.on('close', () => streamer.dispose());
  }
}

function withQueryKey(req: Parameters<typeof checkBearer>[0], url: URL): Parameters<typeof checkBearer>[0] {
  const cred = credentialOf(req, url);
  if (cred?.scheme === 'query') req.headers.authorization = `Bearer ${cred.key}`;
  return req;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
