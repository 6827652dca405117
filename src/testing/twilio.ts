import WebSocket from 'ws';
import type { AudioFrame } from '../audio/frame';
import { decodeMulaw, encodeMulaw } from '../audio/mulaw';
import { resample } from '../audio/resample';
import { sleep } from '../streams/channel';
import { twilioSignature } from '../adapters/twilio';
import { AuthError, ProviderError } from '../errors';

/** Options of {@link TwilioCallEmulator}. */
export interface TwilioCallEmulatorOptions {
  /** The media-stream URL to connect to (`ws://...`). */
  url: string;
  /** Extra headers on the upgrade (e.g. `X-Twilio-Signature`). */
  headers?: Record<string, string> | undefined;
  /** Signs the upgrade with this auth token as Twilio does (`X-Twilio-Signature`), for a `twilioHandler` or `createVoiceServer` that checks it. */
  authToken?: string | undefined;
  /**
   * The URL Twilio would have called, which the signature covers (default `url`): the stream URL
   * of the TwiML, so for `createVoiceServer` behind a proxy, `publicUrl` with `https:` made
   * `wss:` (`http:` made `ws:`) followed by `/twilio`, e.g. `wss://agent.example.com/twilio`.
   */
  signedUrl?: string | undefined;
  /** The call's id, sent in `start` (default: a random `CA…`). */
  callSid?: string | undefined;
  /** `<Parameter>` values of the TwiML, sent in `start.customParameters`. */
  customParameters?: Record<string, string> | undefined;
}

/**
 * Twilio's side of a bidirectional media stream, for tests: it connects,
 * sends `connected`, `start`, real-time `media` (base64 mu-law 8 kHz, 20 ms), `dtmf` and `stop`;
 * it "plays" the audio it receives in real time, echoes each `mark` when the audio before it has
 * played, and on `clear` drops queued audio and returns the pending marks.
 */
export class TwilioCallEmulator {
  /** The media stream's id, sent in `start` and every message. */
  readonly streamSid = `MZ${Math.random().toString(16).slice(2).padEnd(32, '0')}`;
  /** The call's id, sent in `start`. */
  readonly callSid: string;
  /** Marks echoed back, in order. */
  readonly marksEchoed: string[] = [];
  /** `clear` messages received. */
  clears = 0;
  /** Every message received, parsed. */
  readonly messages: Record<string, any>[] = [];
  private ws?: WebSocket;
  private seq = 0;
  private chunk = 0;
  private startedAt = 0;
  private playEnd = 0;
  private readonly played: Int16Array[] = [];
  private readonly pendingMarks = new Map<string, NodeJS.Timeout>();

  /** Connects nothing until `connect()`. */
  constructor(private readonly options: TwilioCallEmulatorOptions) {
    this.callSid = options.callSid ?? `CA${Math.random().toString(16).slice(2).padEnd(32, '0')}`;
  }

  /** Connects and sends `connected` and `start`. */
  async connect(): Promise<void> {
    const { url, authToken, signedUrl } = this.options;
    const signature = authToken === undefined ? {} : { 'X-Twilio-Signature': twilioSignature(authToken, signedUrl ?? url) };
    const ws = new WebSocket(url, { headers: { ...signature, ...this.options.headers } });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, res) => {
        const status = res.statusCode ?? 0;
        ws.on('error', () => {});
        // The refusal's body says why (e.g. "signature mismatch: check authToken and the signed URL").
        let body = '';
        const settle = () => {
          clearTimeout(timer);
          ws.terminate();
          const why = body.trim().replace(/\s+/g, ' ').slice(0, 200);
          const message = `the voice server refused the call: HTTP ${status}${why ? `: ${why}` : ''}${status === 403 && authToken !== undefined ? ` (this emulator signed ${signedUrl ?? url})` : ''}`;
          reject(status === 401 || status === 403 ? new AuthError(message, { provider: 'twilio', status }) : new ProviderError(message, { provider: 'twilio', status }));
        };
        const timer = setTimeout(settle, 1000);
        res.setEncoding('utf8');
        res.on('data', (d: string) => void (body.length < 1000 && (body += d)));
        res.once('end', settle);
        res.once('error', settle);
      });
      ws.once('error', reject);
    });
    ws.on('message', (data) => this.onMessage(String(data)));
    this.startedAt = performance.now();
    this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    this.send({
      event: 'start', sequenceNumber: String(++this.seq), streamSid: this.streamSid,
      start: { accountSid: 'AC0000', streamSid: this.streamSid, callSid: this.callSid, tracks: ['inbound'], customParameters: this.options.customParameters ?? {}, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
    });
  }

  /** Sends audio as the caller, in real-time 20 ms `media` messages. */
  async say(frames: Iterable<AudioFrame> | AsyncIterable<AudioFrame>): Promise<void> {
    for await (const frame of frames) {
      const pcm = resample(frame.samples, frame.sampleRate, 8000);
      for (let off = 0; off < pcm.length; off += 160) {
        const piece = pcm.subarray(off, off + 160);
        const ts = this.chunk * 20;
        const wait = this.startedAt + ts - performance.now();
        if (wait > 1) await sleep(wait);
        this.chunk++;
        this.send({ event: 'media', sequenceNumber: String(++this.seq), streamSid: this.streamSid, media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(ts), payload: Buffer.from(encodeMulaw(piece)).toString('base64') } });
      }
    }
  }

  /** Sends `ms` of silence. */
  silence(ms: number): Promise<void> {
    return this.say([{ samples: new Int16Array(Math.round(ms * 8)), sampleRate: 8000 }]);
  }

  /** Presses a key. */
  dtmf(digit: string): void {
    this.send({ event: 'dtmf', streamSid: this.streamSid, sequenceNumber: String(++this.seq), dtmf: { track: 'inbound_track', digit } });
  }

  /** Sends a raw text frame (for malformed-input tests). */
  sendRaw(text: string): void {
    this.ws?.send(text);
  }

  /** Ends the call: `stop`, then the socket closes. */
  async stop(): Promise<void> {
    this.send({ event: 'stop', sequenceNumber: String(++this.seq), streamSid: this.streamSid, stop: { accountSid: 'AC0000', callSid: this.callSid } });
    for (const t of this.pendingMarks.values()) clearTimeout(t);
    this.ws?.close(1000);
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) await new Promise((r) => this.ws!.once('close', r));
  }

  /** The caller disappears: the connection is cut without `stop` or a close frame (a dropped phone line). */
  vanish(): void {
    for (const t of this.pendingMarks.values()) clearTimeout(t);
    this.pendingMarks.clear();
    this.ws?.terminate();
  }

  /** The agent audio that was played (dropped audio excluded), PCM16 8 kHz. */
  playedAudio(): Int16Array {
    const n = this.played.reduce((a, b) => a + b.length, 0);
    const out = new Int16Array(n);
    let o = 0;
    for (const p of this.played) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  private send(msg: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onMessage(text: string): void {
    const msg = JSON.parse(text) as Record<string, any>;
    this.messages.push(msg);
    const now = performance.now();
    if (msg.event === 'media') {
      const pcm = decodeMulaw(Buffer.from(msg.media.payload, 'base64'));
      this.played.push(pcm);
      this.playEnd = Math.max(now, this.playEnd) + pcm.length / 8;
    } else if (msg.event === 'mark') {
      const name = String(msg.mark.name);
      const t = setTimeout(() => {
        this.pendingMarks.delete(name);
        this.marksEchoed.push(name);
        this.send({ event: 'mark', sequenceNumber: String(++this.seq), streamSid: this.streamSid, mark: { name } });
      }, Math.max(0, this.playEnd - now));
      this.pendingMarks.set(name, t);
    } else if (msg.event === 'clear') {
      this.clears++;
      // Drop what has not played yet.
      let unplayedMs = Math.max(0, this.playEnd - now);
      while (unplayedMs > 0 && this.played.length) {
        const last = this.played[this.played.length - 1]!;
        const cut = Math.min(last.length, Math.round(unplayedMs * 8));
        if (cut <= 0) break;
        if (cut === last.length) this.played.pop();
        else this.played[this.played.length - 1] = last.subarray(0, last.length - cut);
        unplayedMs -= cut / 8;
      }
      this.playEnd = now;
      for (const [name, t] of this.pendingMarks) {
        clearTimeout(t);
        this.marksEchoed.push(name);
        this.send({ event: 'mark', sequenceNumber: String(++this.seq), streamSid: this.streamSid, mark: { name } });
      }
      this.pendingMarks.clear();
    }
  }
}
