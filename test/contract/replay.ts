import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback WebSocket server that plays a scripted conversation to a real client: `serve` is
 * called for each connection with the socket and the text messages received so far.
 */
export async function replayWs(serve: (ws: WebSocket, received: Record<string, unknown>[]) => void) {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server });
  const received: Record<string, unknown>[] = [];
  const query: URLSearchParams[] = [];
  wss.on('connection', (ws, req) => {
    query.push(new URL(req.url ?? '/', 'http://x').searchParams);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) received.push(JSON.parse(String(data)) as Record<string, unknown>);
    });
    serve(ws, received);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/v1/listen`,
    baseURL: `ws://127.0.0.1:${port}/v1`,
    received,
    query,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A loopback HTTP server answering `POST /v1/chat/completions` with the given SSE events (each
 * JSON-encoded into a `data:` line; strings are sent as they are), then `[DONE]` unless
 * `done: false`. Records the request bodies.
 */
export async function replaySse(events: unknown[], { done = true } = {}) {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) res.write(`data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`);
    if (done) res.write('data: [DONE]\n\n');
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { baseURL: `http://127.0.0.1:${port}/v1`, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}
