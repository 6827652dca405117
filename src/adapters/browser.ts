import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import { WebSocketServer, type WebSocket } from 'ws';
import { type AudioFrame, SUPPORTED_RATES } from '../audio/frame';
import { AudioFormatError, ConfigError, ProtocolError } from '../errors';
import type { VoiceSession } from '../session/session';
import { Channel } from '../streams/channel';
import { authorizedWithin, originAllowed } from './admit';
import { CallGuard, type CallLimits, callHook, refuseUpgrade } from './guard';
import { Pacer } from './playback';
import type { AudioOutput, UpgradeHandler } from './types';

/** Events of a {@link BrowserCall}. */
export interface BrowserCallEvents {
  /** The page said which rate it plays (`sampleRate`, Hz). */
  start: [{
    /** Sample rate the page plays, in Hz. */
    sampleRate: number;
  }];
  /**
   * A malformed message from the page (the call goes on), or why the guard closed the call (no
   * `start` in time, audio before `start`, audio faster than real time, no message for too long).
   */
  error: [ProtocolError | AudioFormatError];
  /** The page disconnected. */
  end: [];
}

/**
 * One browser connection: `input` yields the page's microphone (PCM16 at the rate the page
 * announced), `output` plays the agent in the page, with `clear` on barge-in and the page's
 * reports of what it has played.
 *
 * The protocol (voxline's own): the page sends `{"type":"start","sampleRate":N}`, then binary
 * PCM16 mono frames, and `{"type":"played","ms":N}` as it plays; the server sends
 * `{"type":"ready","sampleRate":N}`, binary PCM16 audio, `{"type":"clear"}` and
 * `{"type":"transcript","role","text","final"}`.
 */
export class BrowserCall extends EventEmitter<BrowserCallEvents> {
  /** The page's microphone. Ends when the page disconnects. */
  readonly input: AsyncIterable<AudioFrame>;
  /** The agent's audio to the page. */
  readonly output: BrowserOutput;
  /** Resolves once the page said `start`; rejects if the socket closes before it. */
  readonly started: Promise<{
    /** Sample rate the page plays, in Hz. */
    sampleRate: number;
  }>;
  private readonly frames: Channel<AudioFrame>;
  private readonly guard: CallGuard;
  private rate = 0;
  private settleStart!: (s: { sampleRate: number } | Error) => void;

  /**
   * Made by `browserHandler()` for each call.
   * @param socket The page's WebSocket.
   * @param limits Time limits and queue sizes of the call's guard.
   */
  constructor(readonly socket: WebSocket, limits: CallLimits = {}) {
    super();
    this.guard = new CallGuard(socket, limits, 'browser', (e) => this.emit('error', e));
    this.frames = new Channel<AudioFrame>(this.guard.limits.maxQueuedFrames);
    this.input = this.frames;
    this.started = new Promise((resolve, reject) => (this.settleStart = (s) => (s instanceof Error ? reject(s) : resolve(s))));
    this.started.catch(() => {});
    this.output = new BrowserOutput(this);
    socket.on('message', (data, isBinary) => {
      try {
        this.onMessage(data as Buffer, isBinary);
      } catch (err) {
        this.emit('error', err as ProtocolError);
      }
    });
    socket.on('close', () => {
      this.settleStart(new ProtocolError('the page closed before its start message', { provider: 'browser' }));
      this.frames.close();
      this.output.hangUp();
      this.emit('end');
    });
    socket.on('error', () => {});
  }

  /** The page's sample rate (0 before `start`). */
  get sampleRate(): number {
    return this.rate;
  }

  /** Sends a JSON event to the page. */
  send(event: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(event));
  }

  /** Sends binary audio to the page. */
  sendAudio(samples: Int16Array): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  }

  /** Forwards a session's transcripts and replies to the page. */
  attach(session: VoiceSession): void {
    session.on('transcript', (t) => this.send({ type: 'transcript', role: 'user', text: t.text, final: t.final }));
    session.on('agent_speech_started', (a) => this.send({ type: 'transcript', role: 'agent', text: a.text, final: false }));
    session.on('agent_speech_ended', (a) => this.send({ type: 'transcript', role: 'agent', text: a.text, final: true, interrupted: a.interrupted }));
  }

  /** Ends the call. */
  hangUp(): void {
    this.socket.close(1000);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (!this.rate) return this.guard.close('audio before the start message');
      if (data.length % 2) throw new AudioFormatError(`PCM16 audio must have an even byte length, got ${data.length}`);
      if (!data.length || !this.guard.admit((data.length * 500) / this.rate)) return;
      if (this.frames.size >= this.frames.capacity) return this.guard.overflow();
      this.frames.offer({ samples: new Int16Array(Uint8Array.from(data).buffer), sampleRate: this.rate });
      return;
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ProtocolError('browser message is not JSON', { provider: 'browser' });
    }
    if (msg?.type === 'start') {
      if (this.rate) throw new ProtocolError('a second start message', { provider: 'browser' });
      const rate = Number(msg.sampleRate);
      if (!(SUPPORTED_RATES as readonly number[]).includes(rate)) {
        this.send({ type: 'error', message: `unsupported sample rate ${msg.sampleRate}` });
        this.socket.close(1003, 'unsupported sample rate');
        const err = new AudioFormatError(`browser announced an unsupported sample rate: ${String(msg.sampleRate).slice(0, 40)}`);
        this.settleStart(err);
        throw err;
      }
      this.rate = rate;
      this.guard.started();
      this.send({ type: 'ready', sampleRate: rate });
      this.settleStart({ sampleRate: rate });
      this.emit('start', { sampleRate: rate });
    } else if (msg?.type === 'played' && typeof msg.ms === 'number' && Number.isFinite(msg.ms)) {
      this.output.reportPlayed(msg.ms);
    } else if (msg?.type === 'stop') {
      this.hangUp();
    } else {
      throw new ProtocolError(`unknown browser message type ${JSON.stringify(msg?.type)}`, { provider: 'browser' });
    }
  }
}

/** The agent's audio to a page; `playedMs` follows the page's reports. */
export class BrowserOutput implements AudioOutput {
  private readonly pacer: Pacer;
  private written = 0;
  private base = 0;
  private reported = 0;

  /** The call's `output`; made by the call. */
  constructor(private readonly call: BrowserCall, bufferMs = 300) {
    this.pacer = new Pacer(16000, bufferMs);
  }

  /** The page's sample rate (audio must be written at it). */
  get sampleRate(): number {
    return this.call.sampleRate || 16000;
  }

  get playedMs(): number {
    return Math.min(this.written, this.base + this.reported);
  }

  get writtenMs(): number {
    return this.written;
  }

  /** True once the page is gone. */
  get closed(): boolean {
    return this.pacer.closed;
  }

  /** The page reports how much it has played since it last cleared. */
  reportPlayed(ms: number): void {
    this.reported = Math.max(this.reported, ms);
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.pacer.closed) return;
    if (frame.sampleRate !== this.sampleRate) throw new AudioFormatError(`the page plays ${this.sampleRate} Hz audio, got ${frame.sampleRate} Hz`);
    this.written += (frame.samples.length * 1000) / frame.sampleRate;
    this.call.sendAudio(frame.samples);
    await this.pacer.pace(frame);
  }

  clear(): void {
    this.call.send({ type: 'clear' });
    // The page restarts its count after a clear; what it had played stays played.
    this.base = this.playedMs;
    this.written = this.base;
    this.reported = 0;
    this.pacer.clear();
  }

  drain(): Promise<void> {
    return this.pacer.drain();
  }

  /** The page went away. */
  hangUp(): void {
    this.pacer.stop();
  }

  async close(): Promise<void> {
    this.hangUp();
    this.call.hangUp();
  }
}

/** Options of {@link browserHandler}; the {@link CallLimits} apply to each call. */
export interface BrowserHandlerOptions extends CallLimits {
  /** Called for every accepted connection. A hook that throws (or rejects) ends that call only. */
  onCall(call: BrowserCall, request: IncomingMessage): void | Promise<void>;
  /**
   * Decides whether a connection may open (a session cookie, a token in the URL...). Required,
   * unless `public` says otherwise. A hook that throws, or does not answer within
   * `startTimeoutMs` (default 5000 ms), refuses the connection (401).
   */
  authorize?: ((request: IncomingMessage) => boolean | Promise<boolean>) | undefined;
  /** Lets anyone open calls, without an `authorize` hook (a public demo). Default false. */
  public?: boolean | undefined;
  /**
   * Origins allowed to connect, e.g. `['https://app.example.com']`; when set, a client that sends
   * no `Origin` is refused too. By default only same-origin pages (Origin's host equals the Host
   * header) and clients that send no Origin (not browsers).
   */
  allowedOrigins?: string[] | undefined;
  /** Largest message accepted (default 64 KiB). */
  maxPayload?: number | undefined;
  /** Most simultaneous calls (default unlimited); over it, the upgrade is refused with 503. */
  maxCalls?: number | undefined;
}

/** A WebSocket endpoint for browser pages using the client from {@link BROWSER_CLIENT_JS}. */
export function browserHandler(options: BrowserHandlerOptions): UpgradeHandler {
  if (typeof options?.authorize !== 'function' && options?.public !== true) throw new ConfigError('browserHandler needs an authorize(request) hook (or `public: true` to let anyone call)');
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 64 * 1024 });
  // A refusal closes its socket once written: a client that never reads keeps no descriptor.
  const refuse = (socket: Duplex, status: number, text: string): void => refuseUpgrade(socket, status, text);
  const authorizeMs = options.startTimeoutMs ?? 5000;
  return {
    wss,
    async handleUpgrade(req, socket, head) {
      if (!originAllowed(req, options.allowedOrigins)) return refuse(socket, 403, 'Forbidden');
      // An authorize hook that throws or never answers refuses the connection at the start deadline.
      if (!(await authorizedWithin(req, options.authorize, authorizeMs))) return refuse(socket, 401, 'Unauthorized');
      if (socket.destroyed) return; // the client left while the hook ran
      if (options.maxCalls !== undefined && wss.clients.size >= options.maxCalls) return refuse(socket, 503, 'Service Unavailable');
      wss.handleUpgrade(req, socket, head, (ws) => {
        const call = new BrowserCall(ws, options);
        void callHook(() => options.onCall(call, req)).catch(() => ws.close(1011));
      });
    },
  };
}
