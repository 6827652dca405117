import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ProtocolError } from '../errors';

/**
 * Limits on one call's WebSocket, shared by the Twilio and browser endpoints: what a stranger's
 * socket may cost the server. Every limit has a safe default.
 */
export interface CallLimits {
  /** Close a connection that has not sent its start message after this long (default 5000 ms). */
  startTimeoutMs?: number | undefined;
  /** Close a started call that has sent nothing for this long (default 15 000 ms). */
  idleTimeoutMs?: number | undefined;
  /** Ping the client this often; one that has not answered the previous ping is closed (default 10 000 ms; 0 disables). */
  heartbeatMs?: number | undefined;
  /**
   * Audio accepted ahead of real time (default 2000 ms). A client may send at most the call's
   * duration plus this much audio: the excess is dropped, never forwarded (STT is billed by audio
   * time), and a client more than 10 s ahead is closed.
   */
  burstMs?: number | undefined;
  /** Frames queued for the session at most (default 500, 10 s of 20 ms frames); more are dropped. */
  maxQueuedFrames?: number | undefined;
}

/** Close codes the guard uses (RFC 6455 section 7.4.1). */
const POLICY = 1008;

/**
 * Enforces {@link CallLimits} on one socket: the start timeout, heartbeats, the input-idle timeout
 * and the real-time rate limit. The adapter calls `started()` on its start message and `admit()`
 * for each audio message before decoding it.
 */
export class CallGuard {
  private readonly timers: NodeJS.Timeout[] = [];
  private startedAt = 0;
  private receivedMs = 0;
  private offeredMs = 0;
  private lastMessage = performance.now();
  private alive = true;
  private warned = false;
  /** The limits in force (the defaults filled in). */
  readonly limits: Required<CallLimits>;

  /** Watches `socket`; `report` gets why it closed the call. */
  constructor(private readonly socket: WebSocket, limits: CallLimits, private readonly provider: string, private readonly report: (err: ProtocolError) => void) {
    this.limits = { startTimeoutMs: 5000, idleTimeoutMs: 15_000, heartbeatMs: 10_000, burstMs: 2000, maxQueuedFrames: 500, ...limits };
    const l = this.limits;
    this.timers.push(setTimeout(() => { if (!this.startedAt) this.close('no start message'); }, l.startTimeoutMs));
    if (l.heartbeatMs > 0) {
      this.timers.push(setInterval(() => {
        // A client that answered neither the last ping nor with any message is gone (no FIN).
        if (!this.alive) return void socket.terminate();
        this.alive = false;
        if (socket.readyState === socket.OPEN) socket.ping();
      }, l.heartbeatMs));
      socket.on('pong', () => (this.alive = true));
    }
    socket.on('message', () => {
      this.lastMessage = performance.now();
      this.alive = true;
    });
    socket.once('close', () => this.dispose());
  }

  /** The start message arrived: the clock of the rate limit and the idle timeout start. */
  started(): void {
    if (this.startedAt) return;
    this.startedAt = performance.now();
    const idle = this.limits.idleTimeoutMs;
    this.timers.push(setInterval(() => {
      if (performance.now() - this.lastMessage >= idle) this.close(`no message for ${idle} ms`);
    }, Math.max(20, idle / 4)));
  }

  /** True once the start message arrived. */
  get isStarted(): boolean {
    return this.startedAt > 0;
  }

  /**
   * Whether `ms` of audio may be taken now: false (drop it) past real time plus the burst
   * allowance; a client far ahead of real time is closed.
   */
  admit(ms: number): boolean {
    const allowed = performance.now() - this.startedAt + this.limits.burstMs;
    this.offeredMs += ms;
    if (this.receivedMs + ms <= allowed) {
      this.receivedMs += ms;
      return true;
    }
    if (this.offeredMs > allowed + 10_000) this.close('audio sent faster than real time');
    else this.warnOnce('audio sent faster than real time: the excess is dropped');
    return false;
  }

  /** Reports (once per call) that frames were dropped because the session is not keeping up. */
  overflow(): void {
    this.warnOnce(`more than ${this.limits.maxQueuedFrames} audio frames waiting: the excess is dropped`);
  }

  /** Closes the socket with a policy-violation code and reports why. */
  close(why: string): void {
    this.report(new ProtocolError(`${this.provider} connection closed: ${why}`, { provider: this.provider }));
    if (this.socket.readyState <= this.socket.OPEN) this.socket.close(POLICY, why);
    // A client that ignores the close handshake is cut after a second.
    const t = setTimeout(() => this.socket.terminate(), 1000);
    t.unref();
    this.dispose();
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.report(new ProtocolError(message, { provider: this.provider }));
  }

  private dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
  }
}

/** Calls a user hook, turning a synchronous throw into a rejected promise. */
export function callHook<T>(hook: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(hook()));
}

/** How long a refused upgrade's answer may take to be written before its socket is cut anyway. */
const REFUSAL_WRITE_MS = 1000;

/**
 * Answers a WebSocket upgrade request with an HTTP error (`body`, plain text, says why) and
 * closes the socket as soon as the answer is written, or after a second at the latest: a client
 * that never reads nor closes its side keeps no descriptor (and no call slot) on the server.
 */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body = '', headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const lines = Object.entries({ ...headers, ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}), Connection: 'close', 'Content-Length': String(Buffer.byteLength(body)) });
  closeOnceWritten(socket);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`);
}

/**
 * Destroys a socket whose writing side was (or is about to be) ended once what was written has
 * gone out, or after `deadlineMs` at the latest, instead of waiting for the client to close its
 * side; a reset from the client meanwhile is ignored rather than thrown.
 */
export function closeOnceWritten(socket: Duplex, deadlineMs = REFUSAL_WRITE_MS): void {
  if (socket.destroyed) return;
  socket.on('error', () => {});
  if (socket.writableFinished) return void socket.destroy();
  const timer = setTimeout(() => socket.destroy(), deadlineMs);
  timer.unref();
  socket.once('finish', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}
