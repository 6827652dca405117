import WebSocket from 'ws';
import { frameToBytes, type AudioFrame } from '../audio/frame';
import { RateAdapter } from '../audio/resample';
import { AbortError, AuthError, ConfigError, ProtocolError, ProviderError, VoxlineError } from '../errors';
import { Channel, abortable } from '../streams/channel';
import { type SttEvent, type Transcription, type TranscribeOptions, shiftSttEvent } from './types';

/** How one STT provider's WebSocket protocol looks; {@link WsTranscription} does the rest. */
export interface WsSttProtocol {
  provider: string;
  sampleRate: number;
  url: string;
  headers: Record<string, string>;
  /** Encodes PCM16 at `sampleRate` for the wire. */
  encode(samples: Int16Array): Buffer;
  /**
   * Parses one JSON message: events (connection time), and how far audio is acknowledged. Where
   * the close message leaves a turn open (Deepgram Flux), `openTurn` is the final result that
   * stands for the turn in progress if the stream ends now, and `null` once no turn is open.
   */
  parse(msg: Record<string, unknown>): { events: SttEvent[]; ackedTo?: number; error?: VoxlineError; openTurn?: FinalEvent | null };
  closeMessage: string;
  /**
   * Close codes that end the stream cleanly once the close message was sent (default 1000 only).
   * Deepgram Flux closes without a status code, which the client sees as 1005.
   */
  closeCodes?: readonly number[];
  keepAliveMessage?: string;
  finalizeMessage?: string;
  /** Default of {@link WsSttOptions.quietChunkMs} for this provider (else 200). */
  quietChunkMs?: number;
  /** Default of {@link WsSttOptions.speechChunkMs} for this provider (else 100). */
  speechChunkMs?: number;
  /** Default of {@link WsSttOptions.quietHoldMs} for this provider (else 1000). */
  quietHoldMs?: number;
}

/** Reconnection and keep-alive settings shared by the WebSocket STT providers. */
export interface WsSttOptions {
  /** Send a keep-alive after this long without audio (default 4000 ms). */
  keepAliveMs?: number | undefined;
  /** Reconnections allowed per transcription after an unexpected close (default 3). */
  maxReconnects?: number | undefined;
  /** Handshake timeout (default 5000 ms). */
  connectTimeoutMs?: number | undefined;
  /** How much unacknowledged audio is kept for replay after a reconnect (default 30 s). */
  replayWindowSec?: number | undefined;
  /**
   * After the close message, how long to wait for the provider's last results and its own close
   * before closing the socket anyway (default 2000 ms).
   */
  closeTimeoutMs?: number | undefined;
  /**
   * A socket that stays open but answers nothing for this long while audio is sent is treated as
   * dropped: it is probed with the protocol's finalize message where there is one, then replaced,
   * and the unacknowledged audio replayed (default 10 000 ms; twice that without a finalize probe).
   */
  stallTimeoutMs?: number | undefined;
  /**
   * While the caller is quiet, audio goes out in messages of this many milliseconds instead of
   * one per frame: far fewer socket writes while the agent talks. The first frame of speech, and
   * the silence for `quietHoldMs` after speech, go out frame by frame as they arrive, so neither
   * the provider's speech detection nor its end of speech waits for a batch (the rest of the
   * speech: see `speechChunkMs`). Quiet means no frame above about
   * -50 dBFS. Default 200 (Deepgram Flux: 80, its recommended chunk); 0 sends every frame as it
   * comes. At most 250 (Deepgram's recommended range is 20 to 250 ms per message).
   */
  quietChunkMs?: number | undefined;
  /**
   * How long after the last loud frame audio still goes out frame by frame: longer than the
   * provider takes to decide that speech has ended. Default: the provider's own end-of-speech
   * timers plus a margin (Deepgram: the longer of `endpointing` and `utteranceEndMs`, plus 250 ms;
   * Flux: `eotTimeoutMs` (default 5000) plus 250 ms, at least 1500; the gateway: 1000 ms). A
   * {@link VoiceSession} ends the hold when it takes the end of the user's turn
   * ({@link Transcription.turnEnded}): from then on nothing waits on those timers, so quiet audio
   * is batched again: at once when no loud frame came after the audio of the provider's last
   * final result, else from 250 ms after the last loud frame. Held audio goes out with the next
   * frame, a control message or the end: a source that pauses mid-chunk leaves at most one chunk
   * waiting (for Deepgram, `finalize()` sends it).
   */
  quietHoldMs?: number | undefined;
  /**
   * While the caller speaks, audio goes out in messages of this many milliseconds: five 20 ms
   * frames a message by default (100; Deepgram Flux: 80, its recommended chunk), a fifth of the
   * socket writes of frame by frame. Only frames at speech level (above about -40 dBFS) wait for
   * the next ones; the first frame of speech, softer frames and the silence after speech go out as
   * they come, so neither the provider's speech detection nor its end of speech waits. What waits
   * is the middle of the speech: interim results come up to `speechChunkMs - 20` ms later. While the agent talks
   * ({@link Transcription.agentSpeaking}, which a {@link VoiceSession} calls), speech may be a
   * barge-in and goes frame by frame. 0 (or 20) sends every frame as it comes. At most 250.
   */
  speechChunkMs?: number | undefined;
}

/** Checks {@link WsSttOptions.quietChunkMs}, `speechChunkMs` and `quietHoldMs` at construction. */
export function checkQuietOptions(name: string, o: WsSttOptions): void {
  for (const key of ['quietChunkMs', 'speechChunkMs'] as const) {
    const chunk = o[key];
    if (chunk !== undefined && !(chunk === 0 || (Number.isFinite(chunk) && chunk >= 20 && chunk <= 250))) {
      throw new ConfigError(`${name} ${key} must be 0 (off) or between 20 and 250 ms, got ${String(chunk)}`);
    }
  }
  const hold = o.quietHoldMs;
  if (hold !== undefined && !(Number.isFinite(hold) && hold >= 0)) throw new ConfigError(`${name} quietHoldMs must be a number of ms >= 0, got ${String(hold)}`);
}

/** Mean square of a 20 ms frame below which it counts as quiet: -50 dBFS of 16-bit audio. */
const QUIET_MEAN_SQUARE = (32768 * 10 ** (-50 / 20)) ** 2;
/** Mean square of a frame above which it counts as speech (see `speechChunkMs`): -40 dBFS. */
const SPEECH_MEAN_SQUARE = (32768 * 10 ** (-40 / 20)) ** 2;

const QUIET = 0;
const SOFT = 1;
const SPEECH = 2;

/** How loud a frame is: {@link QUIET}, {@link SOFT} or {@link SPEECH} (stops at the first proof of speech). */
function loudness(samples: Int16Array): number {
  const limit = SPEECH_MEAN_SQUARE * samples.length;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    sum += v * v;
    if (sum > limit) return SPEECH;
  }
  return sum > QUIET_MEAN_SQUARE * samples.length ? SOFT : QUIET;
}

/**
 * Audio after the last loud frame that still goes out frame by frame when the consumer ends the
 * hold ({@link WsTranscription.turnEnded}): speech that began just before the call does not wait.
 */
const RELEASE_GUARD_SEC = 0.25;

/** How far loud frames may reach past the audio a final result covers and still count as its speech. */
const FINAL_SLACK_SEC = 0.1;

/** Most bytes waiting in the provider socket's send buffer before the audio pump waits. */
const MAX_BUFFERED = 256 * 1024;

/** Audio goes out as binary frames, never deflated (PCM hardly compresses; zlib per 20 ms frame costs CPU). */
const AUDIO = { binary: true, compress: false } as const;

type FinalEvent = Extract<SttEvent, { type: 'final' }>;

interface Chunk {
  t0: number;
  t1: number;
  bytes: Buffer;
}

/**
 * One streaming transcription over a WebSocket: audio is pumped in as it arrives, events come
 * out, KeepAlive is sent during silence (where the protocol has one), and a dropped socket
 * reconnects and replays the audio the provider has not yet finalised, so no speech is lost.
 * Times in events are continuous across reconnections.
 *
 * Every way of ending sends the protocol's close message and lets the provider finish: at the end
 * of the audio and on {@link WsTranscription.close} the last results are still yielded; on an
 * abort or a `break` the iteration ends at once while the socket stays open in the background
 * until the provider has sent its last results and closed (both bounded by `closeTimeoutMs`).
 */
export class WsTranscription implements Transcription {
  private readonly out = new Channel<SttEvent>(1024);
  private readonly pending: Chunk[] = [];
  private readonly stop = new AbortController();
  /** Resolves once the transcription has ended, however it ended. */
  protected readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  private ws?: WebSocket;
  private audioSec = 0;
  private offsetSec = 0;
  private reconnects = 0;
  private ending = false;
  private finished = false;
  private lastSend = 0;
  private keepAlive?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private unansweredSince = 0;
  private probed = false;
  private retryTimer?: NodeJS.Timeout;
  private endTimer?: NodeJS.Timeout;
  private started = false;
  /** Quiet audio kept back to go out as one message (already in `pending` for replay). */
  private held: Buffer[] = [];
  private heldSec = 0;
  /** Audio time until which frames go out as they come (the hold after the last loud frame). */
  private liveUntilSec = 0;
  /** Audio time at which the last loud frame ended. */
  private loudUntilSec = 0;
  /** End of the audio that the provider's last final result covers. */
  private finalEndSec = -Infinity;
  /** Frames at speech level in a row, up to the current one. */
  private speechRun = 0;
  /** The agent's audio is playing: speech goes out frame by frame (a barge-in waits on it). */
  private agentTalking = false;
  /** The final result standing for the turn in progress, on the stream's clock (see `WsSttProtocol.parse`). */
  private openTurn?: FinalEvent;

  // Private so that no inspection of a transcription shows the key in its headers.
  readonly #proto: WsSttProtocol;

  constructor(
    proto: WsSttProtocol,
    private readonly audio: AsyncIterable<AudioFrame>,
    private readonly opts: WsSttOptions & TranscribeOptions,
  ) {
    this.#proto = proto;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  finalize(): void {
    if (this.#proto.finalizeMessage) this.sendControl(this.#proto.finalizeMessage);
  }

  /**
   * The consumer has taken the end of the user's turn: the hold after the last loud frame ends
   * now, so the quiet audio that follows goes out in `quietChunkMs` messages: at once where no
   * loud frame came after the audio of the provider's last final result, else from 250 ms of
   * audio after the last loud frame. The next loud frame arms the full hold again.
   */
  turnEnded(): void {
    // Nothing loud after the audio of the provider's last final result: the turn's speech is all
    // transcribed, and the hold ends now. Otherwise speech may have begun again: the guard.
    const transcribed = this.loudUntilSec <= this.finalEndSec + FINAL_SLACK_SEC;
    this.liveUntilSec = Math.min(this.liveUntilSec, this.loudUntilSec + (transcribed ? 0 : RELEASE_GUARD_SEC));
  }

  /**
   * The agent's audio started or stopped playing: while it plays, speech goes out frame by frame,
   * since a barge-in on words waits for the interim results it brings (see `speechChunkMs`).
   */
  agentSpeaking(speaking: boolean): void {
    this.agentTalking = speaking;
    // A frame of speech held for its pair goes now (held quiet audio keeps waiting for its chunk).
    if (speaking && this.speechRun > 1) this.flushHeld();
  }

  /**
   * Sends a text control message now, if the socket is open and the transcription is not ending;
   * returns whether it was sent. For protocol-specific subclasses.
   */
  protected sendControl(message: string): boolean {
    if (this.ending || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.flushHeld();
    this.ws.send(message);
    return true;
  }

  /**
   * Ends the transcription gracefully: stops sending audio, sends the close message and keeps
   * yielding the provider's last results until it closes (at most `closeTimeoutMs`). Resolves
   * once the iteration has nothing more to yield.
   */
  close(): Promise<void> {
    if (!this.started || this.finished) {
      this.shutdown(false);
      return Promise.resolve();
    }
    this.stop.abort();
    this.beginEnd();
    return this.ended;
  }

  /** Connects, streams the audio, and yields events until the audio ends or the loop is left. */
  async *[Symbol.asyncIterator](): AsyncIterator<SttEvent> {
    if (this.started) throw new Error('A transcription can only be iterated once');
    this.started = true;
    const signal = this.opts.signal;
    const onAbort = () => {
      this.out.fail(new AbortError('Transcription aborted'));
      this.shutdown(true);
    };
    if (signal?.aborted) throw new AbortError('Transcription aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    this.connect();
    void this.pump();
    try {
      yield* this.out;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Left early (break): the provider still gets to finish.
      this.shutdown(true);
    }
  }

  private fail(err: unknown): void {
    this.out.fail(err);
    this.shutdown(false);
  }

  /** Sends the close message once and bounds the wait for the provider's last results. */
  private beginEnd(): void {
    if (this.ending || this.finished) return;
    this.ending = true;
    this.flushHeld();
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.#proto.closeMessage);
    this.endTimer = setTimeout(() => this.endGracefully(), this.opts.closeTimeoutMs ?? 2000);
  }

  /**
   * The provider has closed after the close message (or did not within `closeTimeoutMs`): a turn
   * it left open ends with its last transcript, so the user's last words are not lost.
   */
  private endGracefully(): void {
    if (this.finished) return;
    if (this.openTurn) this.out.offer(this.openTurn);
    this.openTurn = undefined;
    this.shutdown(false);
  }

  /**
   * Ends the iteration. With `linger`, an open socket is handed the close message (if not sent
   * yet) and left to the provider to close, bounded by `closeTimeoutMs`; otherwise it is closed now.
   */
  private shutdown(linger: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.stop.abort();
    clearInterval(this.keepAlive);
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    clearTimeout(this.endTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState !== WebSocket.OPEN) ws.terminate();
      else {
        if (!this.ending) {
          if (this.held.length) ws.send(this.takeHeld(), AUDIO);
          ws.send(this.#proto.closeMessage);
        }
        if (!linger) ws.close(1000);
        else {
          const timer = setTimeout(() => ws.close(1000), this.opts.closeTimeoutMs ?? 2000);
          ws.once('close', () => clearTimeout(timer));
        }
      }
    }
    this.out.close();
    this.resolveEnded();
  }

  private send(bytes: Buffer): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(bytes, AUDIO);
      this.lastSend = performance.now();
      this.unansweredSince ||= this.lastSend;
    }
  }

  /** Backpressure: waits while the socket's send buffer is full (a slow or stalled provider). */
  private async writable(): Promise<void> {
    while (!this.finished && this.backedUp()) await new Promise((r) => setTimeout(r, 10));
  }

  private backedUp(): boolean {
    return (this.ws?.bufferedAmount ?? 0) > MAX_BUFFERED;
  }

  /** Replaces a socket that is open but has answered nothing for `stallTimeoutMs` of audio. */
  private checkStall(ws: WebSocket): void {
    const stallMs = this.opts.stallTimeoutMs ?? 10_000;
    const probe = this.#proto.finalizeMessage;
    const limit = probe ? stallMs : 2 * stallMs;
    if (!this.unansweredSince || this.ending || performance.now() - this.unansweredSince < limit) return;
    if (probe && !this.probed) {
      // Silence may be quiet: ask for a result; a live provider answers it.
      this.probed = true;
      this.unansweredSince = performance.now() - stallMs / 2;
      this.flushHeld();
      return void ws.send(probe);
    }
    const provider = this.#proto.provider;
    this.ws = undefined;
    ws.removeAllListeners();
    ws.on('error', () => {});
    ws.terminate();
    clearInterval(this.keepAlive);
    clearInterval(this.watchdog);
    this.retry(new ProviderError(`${provider} answered nothing for ${Math.round(limit)} ms of audio (stalled)`, { provider, retryable: true, code: 'timeout' }));
  }

  private async pump(): Promise<void> {
    const rate = new RateAdapter(this.#proto.sampleRate);
    try {
      // One frame at a time, with no await beyond the source's unless the socket is backed up.
      for await (const frame of abortable(this.audio, this.stop.signal)) {
        const backedUp = this.sendAudio(rate.process(frame));
        if (backedUp) await backedUp;
      }
      await this.sendAudio(rate.flush());
      this.beginEnd();
    } catch (err) {
      if (!this.finished && !this.ending) this.fail(err);
    }
  }

  /**
   * Keeps the samples for replay (a copy: the caller may reuse its frames) and sends them, or
   * holds them back until a whole chunk is there: quiet audio (see `quietChunkMs`) and speech
   * after its first frame (see `speechChunkMs`).
   */
  private sendAudio(samples: Int16Array): Promise<void> | undefined {
    if (samples.length === 0) return;
    let bytes: Buffer = Buffer.from(this.#proto.encode(samples));
    const chunk = { t0: this.audioSec, t1: this.audioSec + samples.length / this.#proto.sampleRate, bytes };
    this.audioSec = chunk.t1;
    this.pending.push(chunk);
    const window = this.opts.replayWindowSec ?? 30;
    while (this.pending.length && this.pending[0]!.t1 < this.audioSec - window) this.pending.shift();
    const quietSec = (this.opts.quietChunkMs ?? this.#proto.quietChunkMs ?? 200) / 1000;
    const speechSec = (this.opts.speechChunkMs ?? this.#proto.speechChunkMs ?? 100) / 1000;
    if (quietSec > 0 || speechSec > 0) {
      const level = loudness(samples);
      if (level !== QUIET) {
        this.loudUntilSec = chunk.t1;
        this.liveUntilSec = chunk.t1 + (this.opts.quietHoldMs ?? this.#proto.quietHoldMs ?? 1000) / 1000;
      }
      // A frame of speech held for its pair never waits for a quiet chunk (with no hold after speech).
      const speechHeld = this.speechRun > 1 && this.held.length > 0;
      this.speechRun = level === SPEECH ? this.speechRun + 1 : 0;
      if (level === SPEECH ? speechSec > 0 && this.speechRun > 1 && !this.agentTalking : level === QUIET && quietSec > 0 && chunk.t0 >= this.liveUntilSec && !speechHeld) {
        // Speech after its first frame, or quiet audio past the hold: kept until a whole chunk is there.
        this.held.push(bytes);
        this.heldSec += chunk.t1 - chunk.t0;
        if (this.heldSec < (level === SPEECH ? speechSec : quietSec) - 1e-6) return;
        bytes = this.takeHeld();
      } else if (this.held.length) {
        // The first frame of speech, a softer one, or the silence just after speech: whatever was
        // held goes out with it, at once.
        bytes = Buffer.concat([this.takeHeld(), bytes]);
      }
    }
    if (!this.backedUp()) return void this.send(bytes);
    // Wait with the bytes held, so that a control message, the end or a reconnect still finds them.
    this.held = [bytes];
    this.heldSec = chunk.t1 - chunk.t0;
    return this.writable().then(() => this.flushHeld());
  }

  /** The held quiet audio as one buffer; nothing is held after. */
  private takeHeld(): Buffer {
    const out = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    this.heldSec = 0;
    return out;
  }

  /** Sends the held quiet audio now: a control message must not overtake it. */
  private flushHeld(): void {
    if (this.held.length) this.send(this.takeHeld());
  }

  private connect(): void {
    if (this.finished) return;
    const ws = new WebSocket(this.#proto.url, { headers: this.#proto.headers, handshakeTimeout: this.opts.connectTimeoutMs ?? 5000, maxPayload: 4 << 20 });
    this.ws = ws;
    const provider = this.#proto.provider;
    ws.on('open', () => {
      this.offsetSec = this.pending[0]?.t0 ?? this.audioSec;
      // Everything unacknowledged, the held quiet audio included, goes out now.
      this.takeHeld();
      for (const c of this.pending) ws.send(c.bytes, AUDIO);
      this.lastSend = performance.now();
      this.unansweredSince = this.pending.length ? this.lastSend : 0;
      this.probed = false;
      clearInterval(this.watchdog);
      const stallMs = this.opts.stallTimeoutMs ?? 10_000;
      this.watchdog = setInterval(() => this.checkStall(ws), Math.max(20, stallMs / 8));
      if (this.ending) ws.send(this.#proto.closeMessage);
      clearInterval(this.keepAlive);
      const every = this.opts.keepAliveMs ?? 4000;
      if (this.#proto.keepAliveMessage) {
        this.keepAlive = setInterval(() => {
          // Nothing follows the close message (the provider may take its time to close).
          if (ws.readyState === WebSocket.OPEN && !this.ending && performance.now() - this.lastSend >= every - 5) {
            ws.send(this.#proto.keepAliveMessage!);
            this.lastSend = performance.now();
          }
        }, Math.max(50, every / 2));
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      const detail = String(res.headers['dg-error'] ?? res.statusMessage ?? '');
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.terminate();
      if (status === 401 || status === 403) return this.fail(new AuthError(`${provider} refused the credentials (HTTP ${status})`, { provider, status }));
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) return this.fail(new ProviderError(`${provider} refused the connection (HTTP ${status}): ${detail}`, { provider, status }));
      this.retry(new ProviderError(`${provider} refused the connection (HTTP ${status})`, { provider, status, retryable: true, code: 'connection_error' }));
    });
    ws.on('message', (data, isBinary) => {
      this.unansweredSince = 0;
      this.probed = false;
      if (isBinary) return;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(String(data)) as Record<string, unknown>;
        if (!msg || typeof msg !== 'object') throw new Error('not an object');
      } catch {
        // A corrupt frame: nothing the socket sends next can be trusted, but the stream is not lost.
        // It is replaced and the audio not yet finalised replayed, as after a drop (within
        // maxReconnects; the official SDK does not close its socket on one either).
        malformed ??= `${provider} sent a message that is not JSON: ${String(data).slice(0, 80)}`;
        return void ws.terminate();
      }
      let parsed: ReturnType<WsSttProtocol['parse']>;
      try {
        parsed = this.#proto.parse(msg);
      } catch (err) {
        return this.fail(err instanceof VoxlineError ? err : new ProtocolError(`${provider} sent an unexpected message: ${(err as Error).message}`, { provider }));
      }
      if (parsed.error) return this.fail(parsed.error);
      if (parsed.openTurn !== undefined) this.openTurn = parsed.openTurn ? (shiftSttEvent(parsed.openTurn, this.offsetSec) as FinalEvent) : undefined;
      if (parsed.ackedTo !== undefined) {
        const acked = this.offsetSec + parsed.ackedTo;
        while (this.pending.length && this.pending[0]!.t1 <= acked + 1e-6) this.pending.shift();
      }
      for (const ev of parsed.events) {
        const shifted = shiftSttEvent(ev, this.offsetSec);
        if (shifted.type === 'final') this.finalEndSec = shifted.end;
        // A consumer 1024 events behind is gone or stuck: fail loudly rather than drop a result.
        if (!this.out.offer(shifted) && !this.out.isClosed) return this.fail(new ProviderError(`${provider} results were not read: over ${this.out.capacity} waiting`, { provider }));
      }
      if (parsed.ackedTo !== undefined) this.reconnects = 0;
    });
    let opened = false;
    let malformed: string | undefined;
    let failure: Error | undefined;
    ws.once('open', () => (opened = true));
    ws.on('error', (err) => (failure ??= err));
    ws.on('close', (code, reason) => {
      if (this.finished || this.ws !== ws) return;
      this.ws = undefined;
      clearInterval(this.keepAlive);
      clearInterval(this.watchdog);
      const why = String(reason);
      if (malformed) return this.retry(new ProtocolError(malformed, { provider, retryable: true }));
      if (this.ending && (this.#proto.closeCodes ?? [1000]).includes(code)) return this.endGracefully();
      if (/DATA-/.test(why) || code === 1008) return this.fail(new ProviderError(`${provider} closed the stream: ${code} ${why}`, { provider, status: code }));
      // Never opened (refused, unreachable, DNS): say so, not "1006".
      if (!opened && failure) return this.retry(new ProviderError(`${provider}: could not connect to ${new URL(this.#proto.url).host} (${failure.message})`, { provider, retryable: true, code: 'connection_error', cause: failure }));
      this.retry(new ProviderError(`${provider} connection closed unexpectedly: ${code} ${why}`.trim(), { provider, status: code, retryable: true, code: 'connection_error' }));
    });
  }

  private retry(err: VoxlineError): void {
    if (this.finished) return;
    if (this.reconnects >= (this.opts.maxReconnects ?? 3)) return this.fail(err);
    const delay = Math.min(2000, 50 * 2 ** this.reconnects) * (0.75 + Math.random() * 0.5);
    this.reconnects++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

/** PCM16 little-endian bytes of the samples. */
export const encodeLinear16 = (samples: Int16Array): Buffer => frameToBytes({ samples, sampleRate: 0 });
