import http from 'node:http';
import https from 'node:https';
import type OpenAI from 'openai';
import { AbortError, AuthError, ProtocolError, ProviderError, type VoxlineError } from '../errors';
import { sleep } from '../streams/channel';

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

/** Where and how {@link ChatHttp} posts. */
export interface ChatHttpOptions {
  /** Base URL up to the API version (`…/v1`), without a trailing slash. */
  baseURL: string;
  /** Headers sent with every request (after the package's own). */
  headers?: Record<string, string> | undefined;
  /** Retries of connection errors, 408, 409, 429 and 5xx (the `openai` package's rule). */
  maxRetries: number;
  /** Longest wait for an answer's headers, per attempt. */
  timeoutMs: number;
  /** Provider name in errors. */
  provider: string;
}

/** One request's hooks: the signal that cancels it, its own headers, and the attempt timing. */
export interface ChatRequest {
  signal: AbortSignal;
  headers?: Record<string, string> | undefined;
  /** An attempt starts. */
  attempt(): void;
  /** An attempt failed: a retry wait (not part of any timer) may follow. */
  failed(): void;
}

/** Most bytes of an error answer read for its message. */
const MAX_ERROR_BODY = 64 * 1024;
/** Parsed events waiting for the reader before the socket is paused. */
const MAX_QUEUED = 256;
/** Longest event (or unterminated line) accepted from a stream: a server that never ends one is cut off. */
const MAX_EVENT = 8 * 1024 * 1024;
/** Redirects followed (307 and 308 on the same origin, as `fetch` would keep the method and body). */
const MAX_REDIRECTS = 5;

/**
 * Streaming chat completions over `node:http(s)`: the same request, retry rule (`x-should-retry`,
 * `retry-after-ms`, `retry-after`, else 0.5 s doubling to 8 s with up to 25 % jitter), error
 * answers and server-sent events as the official `openai` package, without its fetch and web
 * streams: about a third of the CPU per request (bench 4d).
 */
export class ChatHttp {
  readonly #url: URL;
  readonly #key: string;

  constructor(private readonly o: ChatHttpOptions, apiKey: string) {
    this.#url = new URL(`${o.baseURL}/chat/completions`);
    this.#key = apiKey;
  }

  /** Posts `body` (retrying as the package does) and resolves with its chunks once an answer streams. */
  async open(body: object, req: ChatRequest): Promise<AsyncIterable<Chunk>> {
    const payload = JSON.stringify(body);
    const provider = this.o.provider;
    for (let attempt = 0; ; attempt++) {
      if (req.signal.aborted) throw new AbortError('LLM request aborted');
      req.attempt();
      let res: http.IncomingMessage;
      try {
        res = await this.post(this.#url, payload, req);
        for (let hops = 0; res.statusCode === 307 || res.statusCode === 308; hops++) {
          const to = new URL(header(res, 'location') ?? '', this.#url);
          res.resume();
          // Never to another origin: the key goes with the request.
          if (to.origin !== this.#url.origin || hops >= MAX_REDIRECTS) throw statusError(provider, res.statusCode, `redirected to ${to.origin}${to.pathname}: set baseURL to the endpoint itself`);
          res = await this.post(to, payload, req);
        }
      } catch (err) {
        if (err instanceof ProviderError && err.status) {
          req.failed();
          throw err;
        }
        req.failed();
        if (req.signal.aborted) throw new AbortError('LLM request aborted');
        if (attempt < this.o.maxRetries) {
          await sleep(backoff(attempt), req.signal).catch(() => {});
          continue;
        }
        const why = (err as Error)?.message ?? String(err);
        throw new ProviderError(`${provider}: could not reach the API (${why})`, { provider, retryable: true, code: 'connection_error', cause: err });
      }
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return events(res, provider, req.signal);
      req.failed();
      const text = await readSome(res, MAX_ERROR_BODY).catch(() => '');
      const forced = header(res, 'x-should-retry');
      const retry = forced === 'true' || (forced !== 'false' && (status === 408 || status === 409 || status === 429 || status >= 500));
      if (retry && attempt < this.o.maxRetries) {
        await sleep(retryDelay(res, attempt), req.signal).catch(() => {});
        continue;
      }
      // The package's message: the error's own, else the status with the error or the text.
      const json = safeJson(text);
      const error = json && typeof json === 'object' ? (json as { error?: unknown }).error : undefined;
      const said = error ? JSON.stringify(error) : json === undefined ? text : '';
      const detail = error && typeof error === 'object' && 'message' in error ? String(error.message) : said ? `${status} ${said}` : `${status} status code (no body)`;
      throw statusError(provider, status, detail, error && typeof error === 'object' && 'code' in error ? error.code : undefined);
    }
  }

  private post(url: URL, payload: string, req: ChatRequest): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      authorization: `Bearer ${this.#key}`,
      // As the `openai` package: its environment variables for the organization and project.
      ...(process.env.OPENAI_ORG_ID ? { 'openai-organization': process.env.OPENAI_ORG_ID } : {}),
      ...(process.env.OPENAI_PROJECT_ID ? { 'openai-project': process.env.OPENAI_PROJECT_ID } : {}),
      ...lower(this.o.headers),
      ...lower(req.headers),
    };
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? https.request : http.request;
      const r = send(url, { method: 'POST', headers, signal: req.signal }, resolve);
      const timer = setTimeout(() => r.destroy(new Error(`timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      r.once('response', () => clearTimeout(timer));
      r.once('close', () => clearTimeout(timer));
      r.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      r.end(payload);
    });
  }
}

/** A provider's error answer as a typed error (shared with the `openai` package's errors). */
export function statusError(provider: string, status: number | undefined, detail: string, code?: unknown): VoxlineError {
  if (status === 401 || status === 403) return new AuthError(`${provider} refused the credentials (HTTP ${status}): ${detail}`, { provider, status });
  if (status === 429) return new ProviderError(`${provider} rate limit (HTTP 429): ${detail}`, { provider, status, retryable: code !== 'insufficient_quota', code: 'rate_limited' });
  return new ProviderError(`${provider} error${status ? ` (HTTP ${status})` : ''}: ${detail}`, { provider, status, retryable: status === undefined || status >= 500 });
}

/**
 * The chunks of a streaming answer: server-sent events (`data:` lines, comments and other fields
 * skipped, CR, LF or CRLF line ends), `[DONE]` ends it, an event carrying `error` is a
 * `ProviderError`, one that is not JSON a `ProtocolError`. The socket is paused while the reader
 * is behind and destroyed if the reader leaves early.
 */
async function* events(res: http.IncomingMessage, provider: string, signal: AbortSignal): AsyncGenerator<Chunk> {
  const queue: string[] = [];
  let data: string[] = [];
  let partial = '';
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  /** Characters of the event being read (its data lines so far). */
  let pending = 0;
  const line = (l: string) => {
    if (l === '') {
      if (data.length) queue.push(data.join('\n'));
      data = [];
      pending = 0;
    } else if (l.startsWith('data:')) {
      data.push(l.charCodeAt(5) === 32 ? l.slice(6) : l.slice(5));
      pending += l.length;
    }
  };
  res.setEncoding('utf8');
  res.on('data', (text: string) => {
    // Only the new text is scanned (a CR held back at the end of the last piece is looked at again).
    let i = Math.max(0, partial.length - 1);
    partial += text;
    let start = 0;
    for (; i < partial.length; i++) {
      const c = partial.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A CR at the very end may be the first half of a CRLF: wait for the next piece.
      if (c === 13 && i === partial.length - 1) break;
      line(partial.slice(start, i));
      if (c === 13 && partial.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    partial = partial.slice(start);
    if (partial.length + pending > MAX_EVENT) {
      failure ??= new ProtocolError(`${provider} sent a stream event over ${MAX_EVENT >> 20} MiB without ending it`, { provider });
      res.destroy();
    }
    if (queue.length > MAX_QUEUED) res.pause();
    poke();
  });
  res.once('end', () => {
    ended = true;
    poke();
  });
  res.once('error', (err) => {
    failure ??= err;
    poke();
  });
  res.once('close', () => {
    if (!ended) failure ??= new Error('the connection closed before the end of the answer');
    poke();
  });
  let done = false;
  try {
    for (;;) {
      while (queue.length) {
        const payload = queue.shift()!;
        if (done) continue;
        if (payload.startsWith('[DONE]')) {
          done = true;
          continue;
        }
        let chunk: unknown;
        try {
          chunk = JSON.parse(payload);
        } catch (err) {
          throw new ProtocolError(`${provider} sent a malformed stream event: ${(err as Error).message}`, { provider, cause: err });
        }
        const error = (chunk as { error?: unknown } | null)?.error;
        if (error) {
          const detail = typeof error === 'object' && 'message' in error ? String(error.message) : JSON.stringify(error);
          throw statusError(provider, undefined, detail, typeof error === 'object' && 'code' in error ? error.code : undefined);
        }
        yield chunk as Chunk;
      }
      if (ended) return;
      if (failure) {
        if (failure instanceof ProtocolError) throw failure;
        if (signal.aborted) throw new AbortError('LLM request aborted');
        throw new ProviderError(`${provider} error: ${(failure as Error)?.message ?? String(failure)}`, { provider, cause: failure });
      }
      if (res.isPaused()) res.resume();
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    if (!ended) res.destroy();
  }
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The wait the answer asks for (`retry-after-ms`, `retry-after` in seconds or as a date), else the backoff. */
function retryDelay(res: http.IncomingMessage, attempt: number): number {
  const ms = parseFloat(header(res, 'retry-after-ms') ?? '');
  if (!Number.isNaN(ms)) return ms;
  const after = header(res, 'retry-after');
  if (after) {
    const s = parseFloat(after);
    return Number.isNaN(s) ? Math.max(0, Date.parse(after) - Date.now()) || backoff(attempt) : s * 1000;
  }
  return backoff(attempt);
}

/** 0.5 s doubling per retry up to 8 s, less up to 25 % jitter (the `openai` package's). */
function backoff(attempt: number): number {
  return Math.min(0.5 * 2 ** attempt, 8) * (1 - Math.random() * 0.25) * 1000;
}

async function readSome(res: http.IncomingMessage, max: number): Promise<string> {
  let text = '';
  res.setEncoding('utf8');
  for await (const piece of res) {
    text += piece as string;
    if (text.length >= max) {
      res.destroy();
      break;
    }
  }
  return text.slice(0, max);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function lower(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
}
