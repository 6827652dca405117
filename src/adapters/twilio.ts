import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import querystring from 'node:querystring';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AudioFrame } from '../audio/frame';
import { decodeMulaw, encodeMulaw } from '../audio/mulaw';
import { AudioFormatError, ConfigError, ProtocolError } from '../errors';
import { Channel, sleep } from '../streams/channel';
import { CallGuard, type CallLimits, callHook, refuseUpgrade } from './guard';
import { Pacer } from './playback';
import type { AudioOutput, UpgradeHandler } from './types';

/** The `start` message of a Twilio media stream. */
export interface TwilioStart {
  /** The media stream's id. */
  streamSid: string;
  /** The call's id. */
  callSid: string;
  /** The Twilio account's id. */
  accountSid: string;
  /** The tracks streamed (`inbound`, `outbound`). */
  tracks: string[];
  /** The `<Parameter>`s of the TwiML `<Stream>`. */
  customParameters: Record<string, string>;
}

/** Events of a {@link TwilioCall}. */
export interface TwilioCallEvents {
  /** Twilio's `start` message: the stream and call ids. */
  start: [TwilioStart];
  /** The caller pressed a key (the digit). */
  dtmf: [string];
  /**
   * A malformed or unexpected message (the call goes on), or why the guard closed the call (no
   * `start` in time, media before `start`, audio faster than real time, no message for too long,
   * an unsupported media format).
   */
  error: [ProtocolError | AudioFormatError];
  /** The stream ended (Twilio's `stop`, or the socket closed). */
  stop: [];
}

/**
 * One phone call over Twilio Media Streams: `input` yields the caller's audio (mu-law 8 kHz
 * decoded to PCM16), `output` sends the agent's audio back, with `clear` on barge-in and marks to
 * know what has been played.
 */
export class TwilioCall extends EventEmitter<TwilioCallEvents> {
  /** The caller's audio, 20 ms frames at 8 kHz. Ends when the call stops. */
  readonly input: AsyncIterable<AudioFrame>;
  /** The agent's audio back to the caller. */
  readonly output: TwilioOutput;
  /** Resolves with the `start` message; rejects if the socket closes before it. */
  readonly started: Promise<TwilioStart>;
  private readonly frames: Channel<AudioFrame>;
  private readonly guard: CallGuard;
  private streamSid = '';
  private settleStart!: (s: TwilioStart | Error) => void;

  /**
   * Made by `twilioHandler()` for each call.
   * @param socket The media stream's WebSocket.
   * @param limits Time limits and queue sizes of the call's guard.
   */
  constructor(readonly socket: WebSocket, limits: CallLimits = {}) {
    super();
    this.guard = new CallGuard(socket, limits, 'twilio', (e) => this.emit('error', e));
    this.frames = new Channel<AudioFrame>(this.guard.limits.maxQueuedFrames);
    this.input = this.frames;
    this.output = new TwilioOutput(this);
    this.started = new Promise((resolve, reject) => (this.settleStart = (s) => (s instanceof Error ? reject(s) : resolve(s))));
    this.started.catch(() => {});
    socket.on('message', (data, isBinary) => {
      try {
        this.onMessage(isBinary ? undefined : String(data));
      } catch (err) {
        this.emit('error', err instanceof ProtocolError || err instanceof AudioFormatError ? err : new ProtocolError(`Twilio message could not be handled: ${(err as Error).message}`, { provider: 'twilio' }));
      }
    });
    socket.on('close', () => {
      this.settleStart(new ProtocolError('the Twilio stream closed before its start message', { provider: 'twilio' }));
      this.frames.close();
      this.output.hangUp();
    });
    socket.on('error', () => {});
  }

  /** The stream's id (known after `start`). */
  get sid(): string {
    return this.streamSid;
  }

  /** Sends a message to Twilio. */
  send(msg: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify({ ...msg, streamSid: this.streamSid }));
  }

  /** Ends the call's media stream. */
  hangUp(): void {
    this.socket.close(1000);
  }

  private onMessage(text: string | undefined): void {
    if (text === undefined) throw new ProtocolError('Twilio sends only JSON text frames; got a binary frame', { provider: 'twilio' });
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(text);
    } catch {
      throw new ProtocolError(`Twilio message is not JSON: ${text.slice(0, 80)}`, { provider: 'twilio' });
    }
    if (!msg || typeof msg !== 'object') throw new ProtocolError('Twilio message is not an object', { provider: 'twilio' });
    switch (msg.event) {
      case 'connected':
        return;
      case 'start': {
        const s = msg.start ?? {};
        const fmt = s.mediaFormat;
        if (this.guard.isStarted) throw new ProtocolError('a second Twilio start message', { provider: 'twilio' });
        if (fmt && (fmt.encoding !== 'audio/x-mulaw' || Number(fmt.sampleRate) !== 8000 || Number(fmt.channels ?? 1) !== 1)) {
          // Nothing else can be decoded: end the stream rather than leave it open with no call.
          const err = new AudioFormatError(`Twilio media format ${JSON.stringify(fmt).slice(0, 200)} is not mu-law 8 kHz mono`, { provider: 'twilio' });
          this.settleStart(err);
          this.socket.close(1003, 'media format must be mu-law 8 kHz mono');
          throw err;
        }
        this.guard.started();
        this.streamSid = String(msg.streamSid ?? s.streamSid ?? '');
        const start: TwilioStart = { streamSid: this.streamSid, callSid: String(s.callSid ?? ''), accountSid: String(s.accountSid ?? ''), tracks: Array.isArray(s.tracks) ? s.tracks.map(String) : ['inbound'], customParameters: { ...(s.customParameters ?? {}) } };
        this.settleStart(start);
        this.emit('start', start);
        return;
      }
      case 'media': {
        if (!this.guard.isStarted) return this.guard.close('media before the start message');
        const m = msg.media;
        if (!m || typeof m.payload !== 'string') throw new ProtocolError('Twilio media message without a payload', { provider: 'twilio' });
        if (m.track && m.track !== 'inbound') return;
        const payload: string = m.payload;
        if (payload.length % 4 || !BASE64.test(payload)) throw new ProtocolError('Twilio media payload is not base64', { provider: 'twilio' });
        const length = (payload.length / 4) * 3 - (payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0);
        if (!length || !this.guard.admit(length / 8)) return; // 8 mu-law bytes a millisecond
        if (this.frames.size >= this.frames.capacity) return this.guard.overflow();
        this.frames.offer({ samples: decodeMulaw(Buffer.from(payload, 'base64')), sampleRate: 8000 });
        return;
      }
      case 'mark':
        if (typeof msg.mark?.name === 'string') this.output.markPlayed(msg.mark.name);
        return;
      case 'dtmf':
        if (typeof msg.dtmf?.digit === 'string') this.emit('dtmf', msg.dtmf.digit);
        return;
      case 'stop':
        this.frames.close();
        this.emit('stop');
        return;
      default:
        throw new ProtocolError(`Unknown Twilio event ${JSON.stringify(msg.event)}`, { provider: 'twilio' });
    }
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The agent's audio to Twilio: mu-law 8 kHz `media` messages, a `mark` after each write, `clear`
 * on barge-in. `playedMs` follows the marks Twilio echoes as playback reaches them.
 */
export class TwilioOutput implements AudioOutput {
  readonly sampleRate = 8000;
  private readonly pacer: Pacer;
  private readonly marks = new Map<string, number>();
  private acked = 0;
  private written = 0;
  private seq = 0;

  /** The call's `output`; made by the call. */
  constructor(private readonly call: TwilioCall, bufferMs = 300) {
    this.pacer = new Pacer(8000, bufferMs);
  }

  get playedMs(): number {
    return Math.min(this.acked, this.written);
  }

  get writtenMs(): number {
    return this.written;
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.pacer.closed) return;
    if (frame.sampleRate !== 8000) throw new AudioFormatError(`Twilio audio must be 8 kHz, got ${frame.sampleRate} Hz`);
    this.written += (frame.samples.length * 1000) / 8000;
    this.call.send({ event: 'media', media: { payload: Buffer.from(encodeMulaw(frame.samples)).toString('base64') } });
    const name = `vx-${++this.seq}`;
    this.marks.set(name, this.written);
    this.call.send({ event: 'mark', mark: { name } });
    await this.pacer.pace(frame);
  }

  /** True once the call ended. */
  get closed(): boolean {
    return this.pacer.closed;
  }

  /** Called when Twilio echoes a mark: playback has reached it. */
  markPlayed(name: string): void {
    const at = this.marks.get(name);
    if (at === undefined) return; // a mark cancelled by clear
    this.marks.delete(name);
    this.acked = Math.max(this.acked, at);
  }

  clear(): void {
    this.call.send({ event: 'clear' });
    // What Twilio had not played is gone; the marks it returns now were never reached.
    this.marks.clear();
    this.pacer.clear();
    this.written = Math.min(this.written, this.acked);
  }

  async drain(): Promise<void> {
    const deadline = performance.now() + this.pacer.clock.queuedMs + 2000;
    while (!this.pacer.closed && this.marks.size && performance.now() < deadline) await sleep(20);
  }

  /** The call ended. */
  hangUp(): void {
    this.pacer.stop();
  }

  async close(): Promise<void> {
    this.hangUp();
    this.call.hangUp();
  }
}

/** Options of {@link twilioHandler}; the {@link CallLimits} apply to each call. */
export interface TwilioHandlerOptions extends CallLimits {
  /** Called for every call. A hook that throws (or rejects) ends that call only. */
  onCall(call: TwilioCall, request: IncomingMessage): void | Promise<void>;
  /**
   * The account's auth token: `X-Twilio-Signature` is checked on every upgrade and connections
   * without a valid one are refused (403). Required, unless `unsigned` says otherwise.
   */
  authToken?: string | undefined;
  /**
   * Accepts connections without checking their signature (tests, or a proxy in front that checks
   * it). Anyone who finds the URL can then open calls on your providers' bill. Default false.
   */
  unsigned?: boolean | undefined;
  /** The public URL Twilio connects to (needed to validate signatures behind a proxy). */
  publicUrl?: string | undefined;
  /** Largest message accepted (default 64 KiB). */
  maxPayload?: number | undefined;
}

/**
 * A Twilio Media Streams WebSocket endpoint. Use `handleUpgrade` on an existing HTTP server's
 * `upgrade` event, or `wss` directly.
 */
export function twilioHandler(options: TwilioHandlerOptions): UpgradeHandler {
  if (!options?.authToken && !options?.unsigned) throw new ConfigError('twilioHandler needs the Twilio authToken to check signatures (or `unsigned: true` to accept anyone)');
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 64 * 1024 });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const call = new TwilioCall(ws, options);
    void callHook(() => options.onCall(call, req)).catch(() => ws.close(1011));
  });
  return {
    wss,
    handleUpgrade(req, socket, head) {
      if (options.authToken) {
        const url = options.publicUrl ?? `wss://${req.headers.host}${req.url}`;
        const sig = req.headers['x-twilio-signature'];
        // The answer says why (nothing secret in it), so a misconfigured deployment is found fast.
        if (typeof sig !== 'string' || !sig) return refuseUpgrade(socket, 403, 'Forbidden', 'no X-Twilio-Signature header');
        if (!validateTwilioSignature(options.authToken, url, {}, sig)) return refuseUpgrade(socket, 403, 'Forbidden', 'signature mismatch: check authToken and the signed URL');
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
  };
}

/**
 * Checks Twilio's `X-Twilio-Signature` as twilio-node's `validateRequest` does: base64
 * HMAC-SHA1, keyed by the auth token, of the URL followed by the POST parameters sorted by name,
 * each name followed by its value (a repeated parameter's values deduplicated and sorted, each
 * with its name; pass a form body as `URLSearchParams` to keep them all). Since Twilio is not
 * consistent about the port and the query's escaping, the URL is tried without its port, with
 * the scheme's default port, and both again with the query re-encoded the legacy way
 * (`querystring`). `wss:`/`ws:` URLs take 443/80 like `https:`/`http:`.
 */
export function validateTwilioSignature(authToken: string, url: string, params: Record<string, string | readonly string[]> | URLSearchParams, signature: string | undefined): boolean {
  if (typeof signature !== 'string' || !signature) return false;
  // A form body's repeated names keep all their values.
  if (params instanceof URLSearchParams) {
    const form = params;
    params = Object.fromEntries([...new Set(form.keys())].map((k) => [k, form.getAll(k)]));
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const candidates = [withoutPort(parsed), withPort(parsed)];
  candidates.push(...candidates.map(withLegacyQuery));
  const given = Buffer.from(signature);
  return candidates.some((u) => {
    const expected = Buffer.from(twilioSignature(authToken, u, params));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * The `X-Twilio-Signature` Twilio sends with a request to `url` (the public URL it called) with
 * these POST parameters (none for a media-stream upgrade): for tests that play Twilio's side, like
 * `TwilioCallEmulator`'s `authToken` option. {@link validateTwilioSignature} checks it.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string | readonly string[]> = {}): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => {
      const v = params[k]!;
      return acc + (typeof v === 'string' ? k + v : [...new Set(v)].sort().map((x) => k + x).join(''));
    }, url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

function withoutPort(u: URL): string {
  const copy = new URL(u);
  copy.port = '';
  return copy.toString();
}

function withPort(u: URL): string {
  if (u.port) return u.toString();
  const port = u.protocol === 'https:' || u.protocol === 'wss:' ? ':443' : ':80';
  const auth = u.username || u.password ? `${u.username}${u.password ? `:${u.password}` : ''}@` : '';
  return `${u.protocol}//${auth}${u.host}${port}${u.pathname}${u.search}${u.hash}`;
}

function withLegacyQuery(url: string): string {
  const u = new URL(url);
  if (!u.search) return url;
  const qs = querystring.stringify(querystring.parse(u.search.slice(1)));
  u.search = '';
  return `${u.toString()}?${qs}`;
}

/** A TwiML answer that connects the call to a bidirectional media stream at `streamUrl`. */
export function twiml(streamUrl: string, parameters: Record<string, string> = {}): string {
  const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const params = Object.entries(parameters).map(([k, v]) => `<Parameter name="${esc(k)}" value="${esc(v)}"/>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${esc(streamUrl)}">${params}</Stream></Connect></Response>`;
}
