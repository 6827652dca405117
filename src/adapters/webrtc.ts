import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { EventEmitter } from 'eventemitter3';
import type { AudioFrame } from '../audio/frame';
import { RateAdapter } from '../audio/resample';
import { AudioFormatError, ConfigError, ProtocolError } from '../errors';
import type { VoiceSession } from '../session/session';
import { Channel } from '../streams/channel';
import { authorizedWithin, originAllowed } from './admit';
import type { CallLimits } from './guard';
import { callHook } from './guard';
import type { AudioOutput } from './types';
import { MAX_OFFER_BYTES, announcePublicIp, checkOffer, withOpusDtx } from './webrtc-sdp';

/** The rate of the WebRTC audio track both ways (Opus runs at 48 kHz). */
export const WEBRTC_SAMPLE_RATE = 48_000;
/** 10 ms at 48 kHz: what the stack takes and gives per audio callback. */
const CHUNK = 480;

// What voxline uses of `@roamhq/wrtc` (an optional peer), written out so that voxline's types do not name it.
interface PeerConnection {
  connectionState: string;
  iceGatheringState: string;
  localDescription: { sdp: string } | null;
  setRemoteDescription(d: { type: 'offer'; sdp: string }): Promise<void>;
  createAnswer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: { type: string; sdp: string }): Promise<void>;
  addTrack(track: unknown): unknown;
  close(): void;
  onconnectionstatechange: (() => void) | null;
  onicegatheringstatechange: (() => void) | null;
  ontrack: ((e: { track: { kind: string } }) => void) | null;
  ondatachannel: ((e: { channel: DataChannel }) => void) | null;
  getReceivers(): { track: { kind: string } }[];
  getStats(): Promise<{ forEach(f: (r: { type: string; kind?: string; packetsReceived?: number }) => void): void }>;
}
interface DataChannel {
  readyState: string;
  send(text: string): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  onopen: (() => void) | null;
}
interface AudioData { samples: Int16Array; sampleRate: number; channelCount?: number; numberOfFrames?: number }
interface Wrtc {
  RTCPeerConnection: new (config?: { iceServers?: WebRtcIceServer[] }) => PeerConnection;
  nonstandard: {
    RTCAudioSource: new () => { createTrack(): { stop(): void }; onData(d: AudioData & { bitsPerSample: number; channelCount: number; numberOfFrames: number }): void };
    RTCAudioSink: new (track: unknown) => { stop(): void; ondata: ((d: AudioData) => void) | null };
  };
}

/** A STUN or TURN server, as in the browser's `RTCIceServer`. */
export interface WebRtcIceServer {
  /** `stun:host:port` or `turn:host:port?transport=udp`. */
  urls: string | string[];
  /** TURN user name. */
  username?: string | undefined;
  /** TURN credential. */
  credential?: string | undefined;
}

/** `@roamhq/wrtc`, loaded on first use: a missing install is a ConfigError saying what to do. */
function loadWrtc(): Wrtc {
  try {
    return createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new ConfigError('the WebRTC transport needs the optional package @roamhq/wrtc: npm install @roamhq/wrtc', { cause: err });
  }
}

/** Events of a {@link WebRtcCall}. */
export interface WebRtcCallEvents {
  /** The media path is up (ICE and DTLS connected): audio flows both ways. */
  connected: [];
  /** A malformed data-channel message (the call goes on), frames dropped, or why the call was closed (no connection in time, no audio packets or a lost connection for `idleTimeoutMs`). */
  error: [ProtocolError];
  /** The call ended (the page left, the connection was lost, or `hangUp`). */
  end: [];
}

/**
 * One browser call over WebRTC: `input` yields the page's microphone (Opus decoded by the WebRTC
 * stack, resampled to `inputSampleRate`, 20 ms frames), `output` sends the agent's audio as an
 * Opus track (48 kHz mono, paced in real time, dropped at once on `clear`), and a data channel
 * made by the page carries events: the server sends `{"type":"transcript",role,text,final}`,
 * `{"type":"clear"}` and `{"type":"metrics",...}`; the page sends
 * `{"type":"played","streamMs":N}` (how far it has played the agent's track) and `{"type":"stop"}`.
 */
export class WebRtcCall extends EventEmitter<WebRtcCallEvents> {
  /** The page's microphone, at `inputSampleRate`. Ends with the call. */
  readonly input: AsyncIterable<AudioFrame>;
  /** The agent's audio to the page. */
  readonly output: WebRtcOutput;
  /** Resolves once the media path is up; rejects if the call ends (or times out) before. */
  readonly connected: Promise<void>;
  private readonly frames: Channel<AudioFrame>;
  private rate: RateAdapter;
  private inRate = 0;
  private readonly perFrame: number;
  private pending: Int16Array;
  private fill = 0;
  private channel: DataChannel | undefined;
  private sink: { stop(): void } | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private ended = false;
  private watching = false;
  private warned = false;
  private settleConnected!: (err?: Error) => void;

  /**
   * Made by {@link webrtcHandler} for each accepted offer, before the answer is made. @internal
   * @param pc The server's peer connection (its remote description set).
   * @param wrtc The WebRTC stack.
   * @param limits `startTimeoutMs` (connect in time), `idleTimeoutMs` (no audio packet, or a lost connection, for this long ends the call), `maxQueuedFrames`.
   * @param inputSampleRate Rate of `input` frames (default 16000).
   */
  constructor(private readonly pc: PeerConnection, wrtc: Wrtc, limits: CallLimits = {}, readonly inputSampleRate = 16000) {
    super();
    this.frames = new Channel<AudioFrame>(limits.maxQueuedFrames ?? 500);
    this.input = this.frames;
    this.rate = new RateAdapter(inputSampleRate);
    this.perFrame = inputSampleRate / 50;
    this.pending = new Int16Array(this.perFrame);
    this.connected = new Promise((resolve, reject) => (this.settleConnected = (e) => (e ? reject(e) : resolve())));
    this.connected.catch(() => {});
    const source = new wrtc.nonstandard.RTCAudioSource();
    const track = source.createTrack();
    this.output = new WebRtcOutput(this, (samples) => source.onData({ samples, sampleRate: WEBRTC_SAMPLE_RATE, bitsPerSample: 16, channelCount: 1, numberOfFrames: CHUNK }), () => track.stop());
    pc.addTrack(track);
    const listen = (track: { kind: string }) => {
      if (track.kind !== 'audio' || this.sink) return;
      const sink = new wrtc.nonstandard.RTCAudioSink(track);
      sink.ondata = (d) => {
        try {
          this.onAudio(d);
        } catch (err) {
          this.close(`undecodable audio from the stack: ${(err as Error).message}`);
        }
      };
      this.sink = sink;
    };
    // The offer's track arrived with the remote description, before this call was made.
    for (const r of pc.getReceivers()) listen(r.track);
    pc.ontrack = (e) => listen(e.track);
    pc.ondatachannel = (e) => {
      this.channel = e.channel;
      e.channel.onmessage = (m) => {
        try {
          this.onMessage(m.data);
        } catch (err) {
          this.emit('error', err as ProtocolError);
        }
      };
    };
    const startMs = limits.startTimeoutMs ?? 5000;
    const lostMs = limits.idleTimeoutMs ?? 15_000;
    let lost: NodeJS.Timeout | undefined;
    this.timers.push(setTimeout(() => {
      if (pc.connectionState !== 'connected') this.close(`no connection within ${startMs} ms`);
    }, startMs));
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === 'connected') {
        clearTimeout(lost);
        lost = undefined;
        this.settleConnected();
        this.output.start();
        this.watchPackets(lostMs);
        this.emit('connected');
      } else if (state === 'disconnected') {
        lost ??= setTimeout(() => this.close(`connection lost for ${lostMs} ms`), lostMs);
        this.timers.push(lost);
      } else if (state === 'failed') this.close('the connection failed');
      else if (state === 'closed') this.hangUp();
    };
  }

  /** Sends a JSON event to the page over the data channel (dropped while it is not open). */
  send(event: Record<string, unknown>): void {
    if (this.channel?.readyState === 'open') this.channel.send(JSON.stringify(event));
  }

  /** Forwards a session's transcripts, replies and per-turn latency to the page. */
  attach(session: VoiceSession): void {
    session.on('transcript', (t) => this.send({ type: 'transcript', role: 'user', text: t.text, final: t.final }));
    session.on('agent_speech_started', (a) => this.send({ type: 'transcript', role: 'agent', text: a.text, final: false }));
    session.on('agent_speech_ended', (a) => this.send({ type: 'transcript', role: 'agent', text: a.text, final: true, interrupted: a.interrupted }));
    session.on('turn', (t) => this.send({ type: 'metrics', turn: t.index, voiceToVoiceMs: Math.round(t.latency.voiceToVoice) }));
  }

  /** True once the call ended. */
  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * How the caller's side ended, once it has: `stop` (the page hung up), `vanished` (the media or
   * the connection went away: no packets, a failed or lost connection). Unset while the call goes
   * on, or when the server ended it.
   */
  endedBy: 'stop' | 'vanished' | undefined;

  /** Ends the call: closes the peer connection, ends `input`, stops the output. */
  hangUp(): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.settleConnected(new ProtocolError('the WebRTC call ended before it connected', { provider: 'webrtc' }));
    this.sink?.stop();
    this.frames.close();
    this.output.hangUp();
    try {
      this.channel?.close();
      this.pc.close();
    } catch {
      // already closed
    }
    this.emit('end');
  }

  /**
   * Ends the call when no audio packet has arrived for `ms`: the stack's decoder keeps producing
   * (concealment) when packets stop, and ICE notices a vanished peer only after seconds.
   */
  private watchPackets(ms: number): void {
    if (this.watching) return; // already watching (a reconnection)
    this.watching = true;
    let packets = 0;
    let at = performance.now();
    this.timers.push(setInterval(() => {
      void this.pc.getStats().then((report) => {
        let now = 0;
        report.forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'audio') now = r.packetsReceived ?? 0;
        });
        if (now > packets) {
          packets = now;
          at = performance.now();
        } else if (performance.now() - at >= ms) this.close(`no audio packets for ${ms} ms`);
      }, () => {});
    }, Math.max(250, Math.min(1000, ms / 4))));
  }

  /** Reports why, then ends the call. */
  private close(why: string): void {
    if (this.ended) return;
    this.endedBy = 'vanished';
    this.emit('error', new ProtocolError(`webrtc call closed: ${why}`, { provider: 'webrtc' }));
    this.hangUp();
  }

  private onAudio(d: AudioData): void {
    if (this.ended) return;
    const channels = d.channelCount ?? 1;
    let mono = d.samples;
    if (channels > 1) {
      mono = new Int16Array(d.samples.length / channels);
      for (let i = 0; i < mono.length; i++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += d.samples[i * channels + c]!;
        mono[i] = Math.round(sum / channels);
      }
    }
    // The stack may change its playout rate (it starts at its default before the first packet).
    if (d.sampleRate !== this.inRate) {
      this.inRate = d.sampleRate;
      this.rate = new RateAdapter(this.inputSampleRate);
    }
    const samples = this.rate.process({ samples: mono, sampleRate: d.sampleRate });
    for (let i = 0; i < samples.length; i++) {
      this.pending[this.fill++] = samples[i]!;
      if (this.fill < this.perFrame) continue;
      if (this.frames.size >= this.frames.capacity) {
        if (!this.warned) this.emit('error', new ProtocolError(`more than ${this.frames.capacity} audio frames waiting: the excess is dropped`, { provider: 'webrtc' }));
        this.warned = true;
      } else this.frames.offer({ samples: this.pending, sampleRate: this.inputSampleRate });
      this.pending = new Int16Array(this.perFrame);
      this.fill = 0;
    }
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string' || data.length > MAX_OFFER_BYTES) throw new ProtocolError('webrtc data-channel message is not a JSON text', { provider: 'webrtc' });
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data) as Record<string, unknown>;
    } catch {
      throw new ProtocolError('webrtc data-channel message is not JSON', { provider: 'webrtc' });
    }
    if (msg?.type === 'played' && typeof msg.streamMs === 'number' && Number.isFinite(msg.streamMs)) this.output.reportPlayed(msg.streamMs);
    else if (msg?.type === 'stop') {
      this.endedBy ??= 'stop';
      this.hangUp();
    }
    else throw new ProtocolError(`unknown webrtc message type ${JSON.stringify(msg?.type)}`.slice(0, 120), { provider: 'webrtc' });
  }
}

/**
 * The agent's audio to a page over WebRTC, at 48 kHz: written audio is queued and handed to the
 * WebRTC stack 10 ms at a time on the clock (silence in between, so the track's timeline is the
 * wall clock's). `playedMs` follows the page's reports of how far it has played the track.
 */
export class WebRtcOutput implements AudioOutput {
  readonly sampleRate = WEBRTC_SAMPLE_RATE;
  private readonly queue: Int16Array[] = [];
  private offset = 0;
  private queued = 0;
  private written = 0;
  private fedAgent = 0;
  private streamMs = 0;
  /** [stream position after a chunk, agent audio fed up to it], for chunks that carried the agent. */
  private readonly marks: [number, number][] = [];
  private reported: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private stopped = false;
  private waiters: (() => void)[] = [];
  private readonly silence = new Int16Array(CHUNK);

  /**
   * The call's `output`; made by the call.
   * @param bufferMs How far ahead of the wire `write` may run before it waits.
   */
  constructor(private readonly call: WebRtcCall, private readonly feed: (samples: Int16Array) => void, private readonly stopTrack: () => void, private readonly bufferMs = 200) {}

  get playedMs(): number {
    if (this.reported === undefined) return this.fedAgent; // a page that reports nothing: what went on the wire
    let agent = 0;
    for (const [at, fed] of this.marks) {
      if (at > this.reported) break;
      agent = fed;
    }
    return Math.min(this.written, agent);
  }

  get writtenMs(): number {
    return this.written;
  }

  /** True once the call ended. */
  get closed(): boolean {
    return this.stopped;
  }

  /** Milliseconds queued and not yet on the wire. */
  get queuedMs(): number {
    return (this.queued * 1000) / this.sampleRate;
  }

  /** The page played the track up to `streamMs` (milliseconds since the media started). */
  reportPlayed(streamMs: number): void {
    this.reported = Math.max(this.reported ?? 0, streamMs);
    // Marks behind the report are settled: keep only the last of them.
    let settled = 0;
    while (settled + 1 < this.marks.length && this.marks[settled + 1]![0] <= this.reported) settled++;
    if (settled) this.marks.splice(0, settled);
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.stopped) return;
    if (frame.sampleRate !== this.sampleRate) throw new AudioFormatError(`the WebRTC track plays ${this.sampleRate} Hz audio, got ${frame.sampleRate} Hz`);
    this.queue.push(frame.samples);
    this.queued += frame.samples.length;
    this.written += (frame.samples.length * 1000) / this.sampleRate;
    while (!this.stopped && this.queuedMs > this.bufferMs) await new Promise<void>((r) => this.waiters.push(r));
  }

  clear(): void {
    this.written -= this.queuedMs;
    this.queue.length = 0;
    this.offset = 0;
    this.queued = 0;
    this.call.send({ type: 'clear' });
    this.wake();
  }

  async drain(): Promise<void> {
    while (!this.stopped && this.queued > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** The media path is up: start putting audio on the wire. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), 10);
  }

  /** The call ended. */
  hangUp(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopTrack();
    this.wake();
  }

  async close(): Promise<void> {
    this.call.hangUp();
  }

  /** Feeds the chunks due by the clock (at most 100 ms at once after a stalled loop). */
  private tick(): void {
    const due = Math.floor((performance.now() - this.startedAt) / 10) - this.streamMs / 10;
    for (let n = Math.min(due, 10); n > 0; n--) this.feedChunk();
    if (due > 10) this.streamMs = Math.floor((performance.now() - this.startedAt) / 10) * 10;
    this.wake();
  }

  private feedChunk(): void {
    this.streamMs += 10;
    if (!this.queued) return void this.feed(this.silence);
    const chunk = new Int16Array(CHUNK);
    let filled = 0;
    while (filled < CHUNK && this.queue.length) {
      const head = this.queue[0]!;
      const n = Math.min(CHUNK - filled, head.length - this.offset);
      chunk.set(head.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      if (this.offset >= head.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    this.queued -= filled;
    this.fedAgent += (filled * 1000) / this.sampleRate;
    this.marks.push([this.streamMs, this.fedAgent]);
    // Bounded: a page that stops reporting keeps the last 60 s of marks.
    if (this.marks.length > 6000) this.marks.shift();
    this.feed(chunk);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}

/** Options of {@link webrtcHandler}; the {@link CallLimits} apply to each call. */
export interface WebRtcHandlerOptions extends CallLimits {
  /** Called for every accepted call, once the answer is sent. A hook that throws (or rejects) ends that call only. */
  onCall(call: WebRtcCall, request: IncomingMessage): void | Promise<void>;
  /**
   * Decides whether an offer may become a call (a session cookie, a token...). Required, unless
   * `public` says otherwise. A hook that throws, or does not answer within `startTimeoutMs`
   * (default 5000 ms), refuses the offer (401).
   */
  authorize?: ((request: IncomingMessage) => boolean | Promise<boolean>) | undefined;
  /** Lets anyone call, without an `authorize` hook (a public demo). Default false. */
  public?: boolean | undefined;
  /** Origins allowed to call, as in `browserHandler` (default: same-origin pages and clients without Origin). */
  allowedOrigins?: string[] | undefined;
  /** Most simultaneous calls (default unlimited); over it, offers are refused with 503. */
  maxCalls?: number | undefined;
  /** STUN/TURN servers of the server's peer connections (default none: host candidates only). */
  iceServers?: WebRtcIceServer[] | undefined;
  /** The public address to announce beside the host candidates (a server behind a 1:1 NAT). */
  publicIp?: string | undefined;
  /** Rate of the calls' `input` frames (default 16000). */
  inputSampleRate?: number | undefined;
  /** Longest wait for ICE gathering before answering with the candidates found so far (default 3000 ms). */
  gatherTimeoutMs?: number | undefined;
}

/** A `POST` endpoint taking a page's SDP offer and answering with the server's SDP. */
export interface WebRtcHandler {
  /** Calls in progress. */
  readonly calls: ReadonlySet<WebRtcCall>;
  /**
   * Answers one signalling request: the body is the SDP offer (`application/sdp`), the answer is
   * `201` with the server's SDP, all its candidates included (no trickle ICE). Refusals: 405 (not
   * POST), 403 (origin), 401 (authorize), 503 (maxCalls), 413 (too large), 400 (not SDP, no Opus).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * The WebRTC endpoint for pages using `connect({ transport: 'webrtc' })` of
 * {@link BROWSER_CLIENT_JS}: one HTTP exchange per call (offer in, answer out, like OpenAI's
 * Realtime WebRTC endpoint), then Opus audio both ways and a data channel for events. Needs the
 * optional package `@roamhq/wrtc`, loaded on the first offer.
 */
export function webrtcHandler(options: WebRtcHandlerOptions): WebRtcHandler {
  if (typeof options?.authorize !== 'function' && options?.public !== true) throw new ConfigError('webrtcHandler needs an authorize(request) hook (or `public: true` to let anyone call)');
  const calls = new Set<WebRtcCall>();
  let answering = 0; // offers past the maxCalls check and not yet calls
  const text = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
  };
  return {
    calls,
    async handleRequest(req, res) {
      if (req.method !== 'POST') return text(res, 405, 'POST an SDP offer', { allow: 'POST' });
      if (!originAllowed(req, options.allowedOrigins)) return text(res, 403, 'Forbidden');
      if (!(await authorizedWithin(req, options.authorize, options.startTimeoutMs ?? 5000))) return text(res, 401, 'Unauthorized');
      if (options.maxCalls !== undefined && calls.size + answering >= options.maxCalls) return text(res, 503, 'Service Unavailable', { 'retry-after': '1' });
      answering++;
      try {
        await answerOffer(req, res);
      } finally {
        answering--;
      }
    },
  };

  async function answerOffer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sdp = Number(req.headers['content-length']) > MAX_OFFER_BYTES ? undefined : await readBody(req, MAX_OFFER_BYTES);
    if (sdp === undefined) return text(res, 413, `the offer is larger than ${MAX_OFFER_BYTES} bytes`, { connection: 'close' });
    try {
      checkOffer(sdp);
    } catch (err) {
      return text(res, 400, (err as Error).message);
    }
    let wrtc: Wrtc;
    let pc: PeerConnection;
    try {
      wrtc = loadWrtc();
      pc = new wrtc.RTCPeerConnection({ iceServers: options.iceServers ?? [] });
    } catch (err) {
      // A server without the optional package (or a broken install): the page learns why, the server goes on.
      return text(res, 500, `this server cannot take WebRTC calls: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
    }
    let call: WebRtcCall | undefined;
    let answer: string;
    try {
      // Opus DTX both ways: silence (most of a call, each way) costs a packet per 400 ms, not 50 a second.
      await pc.setRemoteDescription({ type: 'offer', sdp: withOpusDtx(sdp) });
      call = new WebRtcCall(pc, wrtc, options, options.inputSampleRate);
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc, options.gatherTimeoutMs ?? 3000);
      answer = withOpusDtx(pc.localDescription?.sdp ?? '');
    } catch (err) {
      if (call) call.hangUp();
      else pc.close();
      return text(res, 400, `the offer was refused by the WebRTC stack: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
    }
    const made = call;
    if (options.publicIp) answer = announcePublicIp(answer, options.publicIp);
    if (!res.socket || res.socket.destroyed) return void made.hangUp(); // the page left meanwhile
    calls.add(made);
    made.once('end', () => calls.delete(made));
    res.writeHead(201, { 'content-type': 'application/sdp' }).end(answer);
    void callHook(() => options.onCall(made, req)).catch(() => made.hangUp());
  }
}

/** The request's body as text, or undefined past `max` bytes (the request is then dropped). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) return void chunks.push(c);
      resolve(undefined);
      req.destroy();
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}

/** Resolves when ICE gathering is complete, or after `ms` (then the answer carries the candidates found so far). */
function gathered(pc: PeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.onicegatheringstatechange = null;
      resolve();
    }
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
  });
}
