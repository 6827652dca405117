import { randomUUID } from 'node:crypto';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../streams/clock';
import type { SpeechStreamEvent } from '../tts/openai';
import { type Synthesizer, toneSynthesizer } from '../tts/speech';
import { Emulator, type EmulatorOptions, type Guard } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { TtsStreamer, type TtsTiming } from './tts-engine';

/** A chat-completions request as the emulator sees it. */
export interface ChatRequest {
  /** The model asked for. */
  model: string;
  /** The conversation sent. */
  messages: {
    /** `system`, `user`, `assistant` or `tool`. */
    role: string;
    /** The message's text (or content parts). */
    content?: unknown;
    /** An assistant message's tool calls. */
    tool_calls?: unknown[];
    /** Which call a `tool` message answers. */
    tool_call_id?: string;
    /** The author's name, when given. */
    name?: string;
  }[];
  /** The tools offered. */
  tools?: {
    /** Always `function`. */
    type: 'function';
    /** The tool's declaration. */
    function: {
      /** The tool's name. */
      name: string;
      /** What it does. */
      description?: string;
      /** JSON Schema of its arguments. */
      parameters?: unknown;
    };
  }[];
  /** Whether the reply is streamed (server-sent events). */
  stream?: boolean;
  /** Streaming options. */
  stream_options?: {
    /** Send a last chunk with the token usage. */
    include_usage?: boolean;
  };
  [key: string]: unknown;
}

/** What the emulated model answers. */
export interface ChatReply {
  /** Text of the reply. */
  content?: string;
  /** Tool calls to make (in parallel when several). */
  toolCalls?: {
    /** The tool's name. */
    name: string;
    /** Its arguments (an object, or the raw JSON string to send as is). */
    arguments: Record<string, unknown> | string;
  }[];
}

/** Decides the emulated model's reply to a request. */
export type Responder = (request: ChatRequest) => ChatReply | Promise<ChatReply>;

/** Options of {@link OpenAiEmulator}. */
export interface OpenAiEmulatorOptions extends EmulatorOptions {
  /** Time to the first streamed token (default 320 ms). */
  timeToFirstTokenMs?: number | undefined;
  /** Tokens streamed per second after the first (default 60). */
  tokensPerSecond?: number | undefined;
  /** Decides replies (default: {@link defaultResponder}). */
  responder?: Responder | undefined;
  /** Voice of `POST /v1/audio/speech` (default: a voice-like tone) and its timing. */
  synthesizer?: Synthesizer | undefined;
  /** Timing of `POST /v1/audio/speech`. */
  speech?: TtsTiming | undefined;
  /**
   * Interleave the argument fragments of parallel tool calls (a fault some compatible servers
   * have). By default calls are streamed one after another, as OpenAI does.
   */
  interleaveToolCalls?: boolean | undefined;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : '')).join(' ');
  return '';
}

/**
 * A small deterministic rule set: answers greetings and goodbyes, asks for a tool when the user
 * mentions something a declared tool is for (an order number and a tool named like `*order*`),
 * uses a tool's result when one comes back, tells a long story when asked (for barge-in tests),
 * and otherwise echoes what it heard.
 */
export const defaultResponder: Responder = (req) => {
  const last = req.messages[req.messages.length - 1];
  if (last?.role === 'tool') {
    const result = textOf(last.content);
    let summary = result;
    try {
      const parsed = JSON.parse(result) as Record<string, unknown>;
      if (parsed && typeof parsed === 'object') {
        summary = 'error' in parsed ? `there was a problem: ${String(parsed.error)}` : Object.entries(parsed).map(([k, v]) => `${k.replace(/_/g, ' ')} ${String(v)}`).join(', ');
      }
    } catch {
      // plain text result
    }
    return { content: `I checked that for you: ${summary}. Is there anything else?` };
  }
  const lastUser = [...req.messages].reverse().find((m) => m.role === 'user');
  const said = textOf(lastUser?.content).trim();
  const lower = said.toLowerCase();
  const orderTool = req.tools?.find((t) => /order/i.test(t.function.name));
  const orderId = /order(?: number)?\s*(?:is\s*)?#?\s*([a-z0-9-]*\d[a-z0-9-]*)/i.exec(said)?.[1];
  if (orderTool && orderId) return { toolCalls: [{ name: orderTool.function.name, arguments: { order_id: orderId } }] };
  if (/\b(bye|goodbye)\b/.test(lower)) return { content: 'Goodbye, and thanks for calling!' };
  if (/\b(story|tell me about|explain)\b/.test(lower)) {
    return {
      content:
        'Of course. Our company started in a small garage many years ago, building radios by hand for the neighbours. ' +
        'Over time the radios became telephones, and the telephones became the voice systems we run today. ' +
        'We now answer calls in eleven countries, and every call is still handled with the same care as that first radio. ' +
        'There is a lot more to the story, so let me know which part interests you most.',
    };
  }
  if (/^(hi|hello|hey)\b/.test(lower)) return { content: 'Hello! How can I help you today?' };
  return { content: said ? `You said: ${said}. How else can I help?` : 'Sorry, I did not catch that.' };
};

/** Splits text into the word-sized tokens the emulator streams. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** The option names of {@link OpenAiEmulator}, for {@link checkEmulatorOptions}. */
const OPEN_AI_EMULATOR_OPTIONS: Readonly<Record<keyof OpenAiEmulatorOptions, true>> = {
  timeToFirstTokenMs: true, tokensPerSecond: true, responder: true, synthesizer: true,
  speech: true, interleaveToolCalls: true, apiKey: true, port: true, maxPayload: true,
  handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of an OpenAI-compatible `POST /v1/chat/completions` endpoint: SSE chunks with content deltas, streamed `tool_calls` fragments (parallel calls
 * one after another, as OpenAI sends them), `finish_reason`, the usage chunk, `[DONE]`; error
 * bodies for 400/401/429/500, and the 400 that reasoning models answer to `max_tokens`.
 */
export class OpenAiEmulator extends Emulator {
  /** Replaces the responder. */
  responder: Responder;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: OpenAiEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('OpenAiEmulator', opts, OPEN_AI_EMULATOR_OPTIONS);
    this.responder = opts.responder ?? defaultResponder;
    this.guard = (req) => checkBearer(req, opts.apiKey);
    this.http('/v1/chat/completions', (req, res, _url, body) => this.serveChat(req, res, body));
    this.http('/v1/audio/speech', (_req, res, _url, body) => this.serveSpeech(res, body));
  }

  /** Serves `POST /v1/audio/speech`: raw PCM 24 kHz streamed, or SSE `speech.audio.delta` events. */
  async serveSpeech(res: ServerResponse, body: Buffer): Promise<void> {
    const error = (status: number, message: string, param: string | null = null) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: 'invalid_request_error', param, code: null } }));
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return void error(400, 'We could not parse the JSON body of your request.');
    }
    if (typeof req.model !== 'string' || !req.model) return void error(400, 'you must provide a model parameter', 'model');
    if (typeof req.input !== 'string' || !req.input) return void error(400, "'input' is required", 'input');
    if (req.input.length > 4096) return void error(400, "'input' is longer than 4096 characters", 'input');
    if (typeof req.voice !== 'string' || !req.voice) return void error(400, "'voice' is required", 'voice');
    if ((req.response_format ?? 'mp3') !== 'pcm') return void error(400, 'The emulator produces response_format "pcm" only', 'response_format');
    const sse = req.stream_format === 'sse';
    if (sse && /^tts-1(-hd)?$/.test(req.model)) return void error(400, `stream_format "sse" is not supported for ${req.model}`, 'stream_format');
    res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/octet-stream', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    let closed = false;
    res.on('close', () => {
      closed = true;
      streamer.dispose();
    });
    const streamer = new TtsStreamer(this.opts.synthesizer ?? toneSynthesizer(), 24000, { clock: this.clock, ...this.opts.speech }, (piece) => {
      if (closed) return;
      const bytes = Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength);
      res.write(sse ? `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: bytes.toString('base64') } satisfies SpeechStreamEvent)}\n\n` : bytes);
    });
    streamer.speak(req.input);
    await streamer.whenIdle();
    if (closed) return;
    if (sse) res.write(`data: ${JSON.stringify({ type: 'speech.audio.done', usage: { input_tokens: Math.ceil(req.input.length / 4), output_tokens: 0, total_tokens: Math.ceil(req.input.length / 4) } } satisfies SpeechStreamEvent)}\n\n`);
    res.end();
  }

  /** Serves one chat-completions request. Used by the gateway emulator too. */
  async serveChat(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const error = (status: number, message: string, type = 'invalid_request_error', param: string | null = null, code: string | null = null) =>
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${randomUUID()}` }).end(JSON.stringify({ error: { message, type, param, code } }));
    let request: ChatRequest;
    try {
      request = JSON.parse(body.toString('utf8')) as ChatRequest;
    } catch {
      return void error(400, 'We could not parse the JSON body of your request.');
    }
    if (typeof request.model !== 'string' || !request.model) return void error(400, "you must provide a model parameter", 'invalid_request_error', 'model');
    if (!Array.isArray(request.messages) || request.messages.length === 0) return void error(400, "'messages' must be a non-empty array", 'invalid_request_error', 'messages');
    // OpenAI's reasoning models refuse the deprecated max_tokens.
    if (request.max_tokens !== undefined && /^(o\d|gpt-5)/.test(request.model)) {
      return void error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", 'invalid_request_error', 'max_tokens', 'unsupported_parameter');
    }
    const reply = await this.responder(request);
    const id = `chatcmpl-${randomUUID().slice(0, 12)}`;
    const created = Math.floor(Date.now() / 1000);
    const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({ index: i, id: `call_${randomUUID().slice(0, 8)}`, name: c.name, args: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) }));
    const tokens = tokenize(reply.content ?? '');
    const promptTokens = Math.ceil(JSON.stringify(request.messages).length / 4);
    const completionTokens = tokens.length + toolCalls.reduce((n, c) => n + Math.ceil(c.args.length / 4), 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
    const finish = toolCalls.length ? 'tool_calls' : 'stop';
    const ttft = this.opts.timeToFirstTokenMs ?? 320;
    const gap = 1000 / (this.opts.tokensPerSecond ?? 60);
    const clock = this.clock;
    const start = clock.now();
    if (!request.stream) {
      await this.clock.sleep(ttft + gap * Math.max(0, tokens.length - 1));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id, object: 'chat.completion', created, model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content: toolCalls.length ? null : reply.content ?? '', refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.args } })) } : {}) }, finish_reason: finish, logprobs: null }],
        usage,
      } satisfies ChatCompletion));
      return;
    }
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': `req_${randomUUID()}` });
    res.flushHeaders();
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    let sent = 0;
    // Chunks are typed by the openai package's own ChatCompletionChunk: a drifted field fails the build.
    const chunk = (delta: ChatCompletionChunk.Choice.Delta, finishReason: ChatCompletionChunk.Choice['finish_reason'] = null) =>
      ({ id, object: 'chat.completion.chunk', created, model: request.model, system_fingerprint: 'fp_emulator', service_tier: 'default', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], usage: null }) satisfies ChatCompletionChunk;
    const write = (data: unknown): boolean => {
      if (fault.stall && sent >= fault.stall.afterMessages) return false;
      const cut = fault.closeMidStream;
      if (cut && sent >= (cut.afterMessages ?? 1)) {
        fault.closeMidStream = undefined;
        res.write(`data: ${JSON.stringify({ error: { message: cut.reason ?? 'The server had an error while processing your request.', type: 'server_error', code: null } })}\n\n`);
        res.end();
        ac.abort();
        return false;
      }
      if (this.faults.malformed) {
        this.faults.malformed = false;
        res.write('data: {"id": "chatcmpl-broken", "choices": [\n\n');
      }
      sent++;
      res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      return true;
    };
    try {
      await pause(clock, start + ttft - clock.now(), ac.signal);
      write(chunk({ role: 'assistant', content: toolCalls.length ? null : '', refusal: null }));
      for (let i = 0; i < tokens.length; i++) {
        if (i > 0) await pause(clock, start + ttft + i * gap - clock.now(), ac.signal);
        if (!write(chunk({ content: tokens[i] }))) return fault.stall ? void (await clock.sleep(600_000, ac.signal)) : undefined;
      }
      // Tool calls: each call's header fragment (id, name), then its argument fragments; calls one
      // after another as OpenAI sends them, or interleaved across calls when asked.
      if (toolCalls.length) {
        const header = (c: (typeof toolCalls)[number]) => chunk({ tool_calls: [{ index: c.index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
        const piece = (c: (typeof toolCalls)[number], arguments_: string) => chunk({ tool_calls: [{ index: c.index, function: { arguments: arguments_ } }] });
        const pieces = toolCalls.map((c) => c.args.match(/[\s\S]{1,7}/g) ?? []);
        const order: [number, number][] = []; // [call, piece]; piece -1 is the header
        if (this.opts.interleaveToolCalls) {
          for (const c of toolCalls) order.push([c.index, -1]);
          for (let k = 0; k < Math.max(...pieces.map((p) => p.length)); k++) for (const c of toolCalls) if (pieces[c.index]![k] !== undefined) order.push([c.index, k]);
        } else for (const c of toolCalls) order.push([c.index, -1], ...pieces[c.index]!.map((_, k): [number, number] => [c.index, k]));
        for (const [i, k] of order) {
          if (k >= 0) await pause(clock, gap, ac.signal);
          const c = toolCalls[i]!;
          if (!write(k < 0 ? header(c) : piece(c, pieces[i]![k]!))) return fault.stall ? void (await clock.sleep(600_000, ac.signal)) : undefined;
        }
      }
      if (!write(chunk({}, finish))) return fault.stall ? void (await clock.sleep(600_000, ac.signal)) : undefined;
      if (request.stream_options?.include_usage) write({ id, object: 'chat.completion.chunk', created, model: request.model, choices: [], usage } satisfies ChatCompletionChunk);
      write('[DONE]');
      res.end();
    } catch {
      res.end();
    }
  }
}

/** Sleeps `ms` when positive; with no delay to wait, goes on at once (zero-latency emulation). */
async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await clock.sleep(ms, signal);
  else signal.throwIfAborted();
}

/** Checks `Authorization: Bearer <key>`; returns an OpenAI-style 401 when it is wrong. */
export function checkBearer(req: IncomingMessage, apiKey: string | undefined): ReturnType<Guard> {
  const auth = req.headers.authorization ?? '';
  const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  if (!key || (apiKey !== undefined && key !== apiKey)) {
    return { status: 401, body: JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }) };
  }
  return undefined;
}
