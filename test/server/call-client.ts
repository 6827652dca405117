import WebSocket from 'ws';
import { toneSynthesizer } from '../../src/index';

/** One call in voxline's browser protocol: says a line in real time, waits for the agent's reply audio. */
export async function browserCall(url: string, timeoutMs = 20_000): Promise<{ audioBytes: number; transcript: string[]; status?: number; voiceToVoiceMs?: number }> {
  const speech = await toneSynthesizer({ sampleRate: 16000, msPerChar: 45 })('check my order please');
  const ws = new WebSocket(url);
  const transcript: string[] = [];
  let audioBytes = 0;
  let agentDone = false;
  const speechEnd = 3200 + speech.samples.length; // sample index where the caller stops speaking
  let speechEndAt = 0;
  let firstAudioAt = 0;
  const opened = await new Promise<number | true>((resolve) => {
    ws.on('open', () => resolve(true));
    ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
  if (opened !== true) return { audioBytes: 0, transcript, status: opened };
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      audioBytes += (data as Buffer).length;
      if (speechEndAt && !firstAudioAt) firstAudioAt = performance.now();
    }
    else {
      const msg = JSON.parse(String(data));
      if (msg.type === 'transcript' && msg.final) {
        transcript.push(`${msg.role}: ${msg.text}`);
        if (msg.role === 'agent') agentDone = true;
      }
    }
  });
  ws.send(JSON.stringify({ type: 'start', sampleRate: 16000 }));
  const audio = new Int16Array(3200 + speech.samples.length + 16000 * 3);
  audio.set(speech.samples, 3200);
  const start = performance.now();
  for (let i = 0, k = 0; i < audio.length && !agentDone && performance.now() - start < timeoutMs; i += 320, k++) {
    const wait = start + k * 20 - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (ws.readyState === WebSocket.OPEN) ws.send(audio.slice(i, i + 320));
    if (!speechEndAt && i + 320 >= speechEnd) speechEndAt = performance.now() - ((i + 320 - speechEnd) / 16);
  }
  while (!agentDone && performance.now() - start < timeoutMs && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 50));
  ws.close();
  return { audioBytes, transcript, voiceToVoiceMs: firstAudioAt ? firstAudioAt - speechEndAt : undefined };
}

/**
 * A page calling over voxline's browser protocol, step by step: `say` sends speech (with silence
 * after it) in 100 ms chunks at real-time pace, the agent's transcript events are kept, and the
 * call ends with `stop()` (a goodbye), `vanish()` (the socket cut, no close frame) or from the server.
 */
export class BrowserCaller {
  /** The JSON messages the server sent, in order. */
  readonly messages: { type: string; role?: string; text?: string; final?: boolean; interrupted?: boolean }[] = [];
  /** Bytes of agent audio received. */
  audioBytes = 0;
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>;
  private readonly t0 = performance.now();
  private sentMs = 0;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((r) => ws.once('close', (code) => r(code)));
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.audioBytes += (data as Buffer).length;
      else this.messages.push(JSON.parse(String(data)));
    });
  }

  /** Opens a call (and sends `start`), or resolves to the HTTP status that refused it (0: no answer). */
  static async open(url: string): Promise<BrowserCaller | number> {
    const ws = new WebSocket(url);
    const opened = await new Promise<number | true>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(0));
    });
    if (opened !== true) {
      ws.terminate();
      return opened;
    }
    ws.send(JSON.stringify({ type: 'start', sampleRate: 16000 }));
    return new BrowserCaller(ws);
  }

  /** Agent replies finished so far (final agent transcripts). */
  get agentReplies(): number {
    return this.messages.filter((m) => m.type === 'transcript' && m.role === 'agent' && m.final).length;
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends `samples` (16 kHz) then `tailMs` of silence, paced in real time. */
  async say(samples: Int16Array, tailMs = 600): Promise<void> {
    const all = new Int16Array(samples.length + tailMs * 16);
    all.set(samples);
    for (let i = 0; i < all.length && this.open; i += 1600) {
      const wait = this.t0 + this.sentMs - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const chunk = all.slice(i, i + 1600);
      if (this.open) this.ws.send(chunk);
      this.sentMs += chunk.length / 16;
    }
  }

  /** Sends `ms` of silence, paced in real time. */
  silence(ms: number): Promise<void> {
    return this.say(new Int16Array(0), ms);
  }

  /** Waits until `ready()` or the socket closes or `timeoutMs` passes (keeping the microphone open: silence); resolves to `ready()`. */
  async until(ready: () => boolean, timeoutMs = 15_000): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (!ready() && this.open && performance.now() < end) await this.silence(100);
    return ready();
  }

  /** Hangs up: the page's `stop` message; resolves once the socket is closed. */
  async stop(): Promise<number> {
    if (this.open) this.ws.send(JSON.stringify({ type: 'stop' }));
    const t = setTimeout(() => this.ws.terminate(), 3000);
    const code = await this.closed;
    clearTimeout(t);
    return code;
  }

  /** Disappears: the TCP connection is cut without a close frame. */
  vanish(): Promise<number> {
    this.ws.terminate();
    return this.closed;
  }
}
