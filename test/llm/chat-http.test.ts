// OpenAiLlm's direct transport (node:http, used with `apiKey`) against the official `openai`
// package (used with `client`) on the same raw answers: the package is the ground truth for
// the request, the retry rule, the stream parsing and the errors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, type LlmEvent } from '../../src/index';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;
let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? (server.closeAllConnections(), server.close(() => r())) : r())));

async function serve(handler: Handler): Promise<{ url: string; requests: { headers: http.IncomingHttpHeaders; body: string }[] }> {
  const requests: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      handler(req, res, requests.length);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1`, requests };
}

const chunk = (delta: object, extra: object = {}) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null }], ...extra });
const sse = (items: (object | string)[], eol = '\n') => items.map((i) => `data: ${typeof i === 'string' ? i : JSON.stringify(i)}${eol}${eol}`).join('');
const reply = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Héllo ' }), chunk({ content: 'wörld 👋' }), { ...chunk({}), choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }, { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }];

/** A fresh server in place of the last one. */
async function serveAgain(handler: Handler) {
  if (server) await new Promise<void>((r) => (server!.closeAllConnections(), server!.close(() => r())));
  server = undefined;
  return serve(handler);
}

async function collectError(llm: OpenAiLlm): Promise<Error & { status?: number }> {
  try {
    for await (const _e of llm.respond([{ role: 'user', content: 'hi' }]));
  } catch (e) {
    return e as Error & { status?: number };
  }
  throw new Error('expected an error');
}

/** Writes `text` in pieces of `size` bytes (splitting lines, CRLFs and UTF-8 characters). */
function streamIn(res: http.ServerResponse, text: string, size: number, then?: () => void): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const bytes = Buffer.from(text);
  let at = 0;
  const next = () => {
    if (at >= bytes.length) return then ? then() : res.end();
    res.write(bytes.subarray(at, (at += size)));
    setImmediate(next);
  };
  next();
}

interface Outcome {
  events: LlmEvent[];
  error?: { name: string; status?: number; retryable?: boolean; code?: string; message: string };
  requests: number;
}

/** The same exchange through both transports. */
async function both(handler: Handler, opts: { maxRetries?: number } = {}): Promise<{ direct: Outcome; sdk: Outcome; requests: { headers: http.IncomingHttpHeaders; body: string }[] }> {
  const { url, requests } = await serve(handler);
  const run = async (llm: OpenAiLlm): Promise<Outcome> => {
    const before = requests.length;
    const events: LlmEvent[] = [];
    try {
      for await (const e of llm.respond([{ role: 'user', content: 'hi' }], { headers: { 'x-turn': '1' } })) events.push(e);
      return { events, requests: requests.length - before };
    } catch (e) {
      const err = e as Error & { status?: number; retryable?: boolean; code?: string };
      return { events, requests: requests.length - before, error: { name: err.constructor.name, status: err.status, retryable: err.retryable, code: err.code, message: err.message } };
    }
  };
  const maxRetries = opts.maxRetries ?? 2;
  const direct = await run(new OpenAiLlm({ apiKey: 'sk-test', baseURL: url, model: 'm', maxRetries, headers: { 'X-Team': 'a' } }));
  const sdk = await run(new OpenAiLlm({ client: new OpenAI({ apiKey: 'sk-test', baseURL: url, maxRetries, defaultHeaders: { 'X-Team': 'a' } }), model: 'm' }));
  return { direct, sdk, requests };
}

describe('OpenAiLlm direct transport matches the openai package', () => {
  it('parses the same events from a stream cut at every few bytes, with CRLF, CR, comments and "data:" without a space', async () => {
    for (const [eol, size] of [['\n', 7], ['\r\n', 5], ['\r', 3], ['\r\n', 1]] as const) {
      const text = `: keep-alive${eol}${eol}` + sse(reply, eol).replace(`data: ${JSON.stringify(reply[1])}`, `data:${JSON.stringify(reply[1])}`) + `data: [DONE]${eol}${eol}`;
      const { direct, sdk } = await both((_req, res) => streamIn(res, text, size));
      expect(direct.error, `eol ${JSON.stringify(eol)}`).toBeUndefined();
      expect(direct.events).toEqual(sdk.events);
      expect(direct.events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta).join('')).toBe('Héllo wörld 👋');
      expect(direct.events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
      await new Promise<void>((r) => server!.close(() => r()));
      server = undefined;
    }
  });

  it('sends the same request: path, body, auth, content type, accept and the extra headers', async () => {
    const { requests } = await both((_req, res) => streamIn(res, sse(reply) + 'data: [DONE]\n\n', 4096));
    const [direct, sdk] = requests;
    expect(JSON.parse(direct!.body)).toEqual(JSON.parse(sdk!.body));
    for (const h of ['authorization', 'content-type', 'accept', 'x-team', 'x-turn']) expect(direct!.headers[h], h).toBe(sdk!.headers[h]);
    expect(direct!.headers.authorization).toBe('Bearer sk-test');
  });

  it('sends OPENAI_ORG_ID and OPENAI_PROJECT_ID as the package does', async () => {
    process.env.OPENAI_ORG_ID = 'org-1';
    process.env.OPENAI_PROJECT_ID = 'proj-1';
    try {
      const { requests } = await both((_req, res) => streamIn(res, sse(reply) + 'data: [DONE]\n\n', 4096));
      for (const h of ['openai-organization', 'openai-project']) {
        expect(requests[1]!.headers[h], h).toBeTruthy();
        expect(requests[0]!.headers[h], h).toBe(requests[1]!.headers[h]);
      }
    } finally {
      delete process.env.OPENAI_ORG_ID;
      delete process.env.OPENAI_PROJECT_ID;
    }
  });

  const errorCases: [string, Handler, { requests: number; name: string; status?: number; retryable?: boolean }][] = [
    ['a 400 with a JSON error is not retried', (_q, res) => { res.writeHead(400, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: { message: 'bad model', type: 'invalid_request_error', code: null } })); }, { requests: 1, name: 'ProviderError', status: 400, retryable: false }],
    ['a 500 with x-should-retry: false is not retried', (_q, res) => { res.writeHead(500, { 'x-should-retry': 'false' }); res.end('{"error":{"message":"boom"}}'); }, { requests: 1, name: 'ProviderError', status: 500, retryable: true }],
    ['a 400 with x-should-retry: true is retried', (_q, res) => { res.writeHead(400, { 'x-should-retry': 'true', 'retry-after-ms': '5' }); res.end('{"error":{"message":"again"}}'); }, { requests: 3, name: 'ProviderError', status: 400, retryable: false }],
    ['a 409 is retried, then reported', (_q, res) => { res.writeHead(409, { 'retry-after': '0.01' }); res.end('not json'); }, { requests: 3, name: 'ProviderError', status: 409, retryable: false }],
    ['a 429 for quota is not retryable for the caller', (_q, res) => { res.writeHead(429, { 'retry-after-ms': '5' }); res.end(JSON.stringify({ error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } })); }, { requests: 3, name: 'ProviderError', status: 429, retryable: false }],
    ['a 401 is an AuthError', (_q, res) => { res.writeHead(401); res.end(JSON.stringify({ error: { message: 'Incorrect API key provided' } })); }, { requests: 1, name: 'AuthError', status: 401 }],
    ['an error event mid-stream is a ProviderError after the text before it', (_q, res) => streamIn(res, sse([reply[0]!, reply[1]!, { error: { message: 'The server is overloaded', type: 'server_error' } }]), 4096), { requests: 1, name: 'ProviderError' }],
    ['an event that is not JSON is a ProtocolError', (_q, res) => streamIn(res, sse([reply[0]!, '{"choices": [tru']), 4096), { requests: 1, name: 'ProtocolError' }],
    ['a connection cut mid-stream is a ProviderError', (_q, res) => streamIn(res, sse([reply[0]!, reply[1]!]), 4096, () => res.socket!.destroy()), { requests: 1, name: 'ProviderError' }],
  ];
  for (const [name, handler, want] of errorCases) {
    it(name, async () => {
      const { direct, sdk } = await both(handler);
      expect(direct.error?.name).toBe(want.name);
      expect(sdk.error?.name).toBe(want.name);
      expect(direct.requests).toBe(want.requests);
      expect(sdk.requests).toBe(want.requests);
      expect(direct.events).toEqual(sdk.events);
      if (want.status !== undefined) expect(direct.error?.status).toBe(want.status);
      if (want.retryable !== undefined) expect(direct.error?.retryable).toBe(want.retryable);
      expect(direct.error?.status).toBe(sdk.error?.status);
      expect(direct.error?.retryable).toBe(sdk.error?.retryable);
      if (want.name !== 'ProviderError' || want.status) expect(direct.error?.message).toBe(sdk.error?.message);
    });
  }

  it('retries a refused connection, then reports a retryable connection error', async () => {
    const { url } = await serve(() => {});
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const errs = await Promise.all([new OpenAiLlm({ apiKey: 'sk', baseURL: url, model: 'm', maxRetries: 1 }), new OpenAiLlm({ client: new OpenAI({ apiKey: 'sk', baseURL: url, maxRetries: 1 }), model: 'm' })].map(async (llm) => {
      try {
        for await (const _e of llm.respond([{ role: 'user', content: 'hi' }]));
      } catch (e) {
        return e as Error & { code?: string; retryable?: boolean };
      }
    }));
    for (const e of errs) expect({ name: e?.constructor.name, code: e?.code, retryable: e?.retryable }).toEqual({ name: 'ProviderError', code: 'connection_error', retryable: true });
    expect(errs[0]!.message).toMatch(/could not reach the API/);
  });

  it('follows a 307 on the same origin as the package does, and refuses one to another origin', async () => {
    const { direct, sdk, requests } = await both((req, res) => {
      if (req.url === '/v1/chat/completions') return void res.writeHead(307, { location: '/v2/chat/completions' }).end();
      streamIn(res, sse(reply) + 'data: [DONE]\n\n', 4096);
    });
    expect(direct.error).toBeUndefined();
    expect(direct.events).toEqual(sdk.events);
    expect(requests.length).toBe(4);
    expect(JSON.parse(requests[1]!.body)).toEqual(JSON.parse(requests[0]!.body));
    const elsewhere = http.createServer((_q, res) => res.end());
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    let hits = 0;
    elsewhere.on('request', () => hits++);
    const { url } = await serveAgain((_q, res) => void res.writeHead(308, { location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/chat/completions` }).end());
    const err = await collectError(new OpenAiLlm({ apiKey: 'sk', baseURL: url, model: 'm' }));
    elsewhere.close();
    expect(err).toMatchObject({ name: 'ProviderError', status: 308 });
    expect(err.message).toMatch(/redirected to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions: set baseURL/);
    expect(hits).toBe(0);
  });

  it('cuts off a stream whose event never ends (no line end, or data lines without the blank line)', async () => {
    for (const body of ['data: ' + 'x'.repeat(9 * 2 ** 20), 'data: {}\n'.repeat(2 ** 20 + 2 ** 18)]) {
      const { url } = await serveAgain((_q, res) => streamIn(res, body, 256 * 1024, () => {}));
      const err = await collectError(new OpenAiLlm({ apiKey: 'sk', baseURL: url, model: 'm' }));
      expect(err).toMatchObject({ name: 'ProtocolError' });
      expect(err.message).toMatch(/over 8 MiB without ending it/);
    }
  });

  it('a reader that stops early frees the connection, and a slow reader holds the socket back', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => chunk({ content: `w${i} ` }));
    const { url } = await serve((_q, res) => streamIn(res, sse(many) + 'data: [DONE]\n\n', 64 * 1024));
    const llm = new OpenAiLlm({ apiKey: 'sk', baseURL: url, model: 'm' });
    let n = 0;
    for await (const e of llm.respond([{ role: 'user', content: 'hi' }])) {
      if (e.type === 'text' && ++n === 3) break;
    }
    expect(n).toBe(3);
    const all: string[] = [];
    for await (const e of llm.respond([{ role: 'user', content: 'hi' }])) {
      if (e.type === 'text') all.push(e.delta);
      if (all.length % 500 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(all.length).toBe(2000);
    expect(all[1999]).toBe('w1999 ');
  });
});
