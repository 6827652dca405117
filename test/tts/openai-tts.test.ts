import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, OpenAiTts, ProtocolError, ProviderError } from '../../src/index';
import { OpenAiEmulator } from '../../src/testing/index';
import { collect } from '../helpers';

let http: Server | undefined;
let emu: OpenAiEmulator | undefined;
afterEach(async () => {
  http?.closeAllConnections();
  await new Promise((r) => (http ? http.close(r) : r(undefined)));
  await emu?.close();
  http = undefined;
  emu = undefined;
});

async function* one(text: string) { yield text; }

/** A speech endpoint that answers with `body`, written in the pieces given. */
async function speechServer(contentType: string, pieces: (string | Buffer)[]): Promise<string> {
  http = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': contentType });
      for (const p of pieces) {
        res.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
    });
  });
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`;
}

const pcm = Buffer.from(Int16Array.from([100, -200, 300, -400]).buffer);
const delta = (b: Buffer) => JSON.stringify({ type: 'speech.audio.delta', audio: b.toString('base64') });
const done = JSON.stringify({ type: 'speech.audio.done', usage: { input_tokens: 14, output_tokens: 101, total_tokens: 115 } });
const samples = (frames: { samples: Int16Array }[]) => frames.flatMap((f) => [...f.samples]);

describe('OpenAiTts', () => {
  it('refuses stream_format sse with tts-1 and tts-1-hd, which do not support it', () => {
    expect(() => new OpenAiTts({ apiKey: 'sk', model: 'tts-1', streamFormat: 'sse' })).toThrow(ConfigError);
    expect(() => new OpenAiTts({ apiKey: 'sk', model: 'tts-1-hd', streamFormat: 'sse' })).toThrow(ConfigError);
    expect(() => new OpenAiTts({ apiKey: 'sk', model: 'gpt-4o-mini-tts', streamFormat: 'sse' })).not.toThrow();
  });

  it('reads SSE as the openai package parses it: CRLF line ends, events split across writes, comments', async () => {
    const a = pcm.subarray(0, 3);
    const b = pcm.subarray(3);
    const stream = `: keep-alive\r\n\r\ndata: ${delta(a)}\r\n\r\ndata: ${delta(b)}\r\n\r\ndata: ${done}\r\n\r\n`;
    const baseURL = await speechServer('text/event-stream', [stream.slice(0, 40), stream.slice(40, 77), stream.slice(77)]);
    const tts = new OpenAiTts({ apiKey: 'sk', baseURL, streamFormat: 'sse' });
    expect(samples(await collect(tts.synthesize(one('Hello.'))))).toEqual([100, -200, 300, -400]);
  });

  it('fails loudly on an error event in the stream and on an event that is not JSON', async () => {
    let baseURL = await speechServer('text/event-stream', [`data: ${delta(pcm)}\n\n`, `data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n`]);
    let err = await collect(new OpenAiTts({ apiKey: 'sk', baseURL, streamFormat: 'sse' }).synthesize(one('Hi.'))).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toContain('The server had an error');
    http!.closeAllConnections();
    await new Promise((r) => http!.close(r));
    baseURL = await speechServer('text/event-stream', ['data: {not json\n\n']);
    err = await collect(new OpenAiTts({ apiKey: 'sk', baseURL, streamFormat: 'sse' }).synthesize(one('Hi.'))).catch((e) => e);
    expect(err).toBeInstanceOf(ProtocolError);
  });

  it('carries an odd byte of the raw PCM body over to the next piece', async () => {
    const baseURL = await speechServer('application/octet-stream', [pcm.subarray(0, 1), pcm.subarray(1, 6), pcm.subarray(6)]);
    const tts = new OpenAiTts({ apiKey: 'sk', baseURL });
    expect(samples(await collect(tts.synthesize(one('Hello.'))))).toEqual([100, -200, 300, -400]);
  });

  it('emulator: refuses sse for tts-1 like the API reference says', async () => {
    emu = new OpenAiEmulator({ apiKey: 'sk' });
    await emu.start();
    const res = await fetch(`${emu.baseURL}/audio/speech`, { method: 'POST', headers: { authorization: 'Bearer sk', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'Hi.', response_format: 'pcm', stream_format: 'sse' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: 'stream_format', type: 'invalid_request_error' } });
  });
});
