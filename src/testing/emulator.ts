import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConfigError } from '../errors';
import { type Clock, type ClockTimer, realClock } from '../streams/clock';
import { type EmulatorTlsCertificate, localCertificate } from './tls';

export type { EmulatorTlsCertificate } from './tls';

/** Everything an emulator received, for assertions in tests. */
export interface EmulatorRecord {
  /** One entry per accepted WebSocket connection or HTTP request. */
  connections: {
    /** The URL's path. */
    path: string;
    /** The URL's query parameters. */
    query: Record<string, string>;
    /** The request's headers. */
    headers: Record<string, string | string[] | undefined>;
  }[];
  /** Every JSON text message received over WebSockets, in order. */
  messages: Record<string, unknown>[];
  /** Every HTTP request body received, parsed as JSON when possible. */
  bodies: unknown[];
  /** Total bytes of binary audio received. */
  audioBytes: number;
  /** Audio messages received: binary frames (the Realtime emulator: `input_audio_buffer.append` events). */
  audioMessages: number;
}

/**
 * Faults to inject. Each is consumed by the next connection or request it applies to, so a test
 * sets one and sees it happen once.
 */
export interface FaultPlan {
  /** Refuse the next N connections or requests with this HTTP status (default 503). */
  refuse?: {
    /** How many to refuse. */
    count: number;
    /** The HTTP status (default 503). */
    status?: number | undefined;
    /** Seconds sent in `Retry-After`. */
    retryAfter?: number | undefined;
    /** An error code put in the body. */
    code?: string | undefined;
  } | undefined;
  /** Close the next stream mid-way: after this much of its audio/text/tokens. */
  closeMidStream?: {
    /** Close this long after the connection opened. */
    afterMs?: number | undefined;
    /** Close after sending this many messages. */
    afterMessages?: number | undefined;
    /** The WebSocket close code. */
    code?: number | undefined;
    /** The close reason. */
    reason?: string | undefined;
  } | undefined;
  /** Stop answering (keep the connection open, send nothing more) after this many messages. */
  stall?: {
    /** Stop sending after this many messages. */
    afterMessages: number;
  } | undefined;
  /** Send one malformed message at the next opportunity. */
  malformed?: boolean | undefined;
  /** Answer the next WebSocket handshake this much later (on top of `handshakeDelayMs`): a slow or distant service. */
  slowHandshake?: {
    /** The extra delay, in milliseconds. */
    delayMs: number;
  } | undefined;
}

/** Options shared by every emulator. */
export interface EmulatorOptions {
  /** The API key the emulator accepts. Default: any non-empty key. */
  apiKey?: string | undefined;
  /** Port to listen on (default: an ephemeral port on 127.0.0.1). */
  port?: number | undefined;
  /** Largest WebSocket message accepted, in bytes (default 1 MiB). */
  maxPayload?: number | undefined;
  /** Delay before answering each WebSocket handshake, to emulate a distant service (default 0). */
  handshakeDelayMs?: number | undefined;
  /** The clock of every delay the emulator emulates (default: the wall clock). */
  clock?: Clock | undefined;
  /**
   * Serve `https:` and `wss:` instead of `http:` and `ws:`, for clients that always dial TLS (the
   * `openai` package's `OpenAIRealtimeWS`, `@cartesia/cartesia-js`). `true`: a self-signed
   * certificate for localhost, 127.0.0.1 and ::1, made at `start()` by the optional package
   * `selfsigned` (a ConfigError when it is missing) and shared by the process's emulators; or your
   * own key and certificate. Clients trust {@link Emulator.ca}: pass it as `ca` in their
   * WebSocket or TLS options, or write it to a file named by `NODE_EXTRA_CA_CERTS` for a child
   * process. Default false.
   */
  tls?: boolean | EmulatorTlsCertificate | undefined;
}

/** Serves one accepted WebSocket connection. */
export type WsRoute = (ws: WebSocket, req: IncomingMessage, url: URL) => void;
/** Serves one HTTP request (its body already read). */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer) => void | Promise<void>;
/** Checks a request before it is served; a returned answer refuses it. */
export type Guard = (req: IncomingMessage, url: URL) => {
  /** The HTTP status of the refusal. */
  status: number;
  /** Headers of the refusal. */
  headers?: Record<string, string>;
  /** Body of the refusal. */
  body: string;
} | undefined;

/**
 * Base of the provider emulators: one HTTP server on 127.0.0.1 with WebSocket and HTTP routes,
 * a record of what was received and a fault plan.
 */
export class Emulator {
  /** What the emulator received. */
  record: EmulatorRecord = { connections: [], messages: [], bodies: [], audioBytes: 0, audioMessages: 0 };
  /** Faults to inject; set fields with {@link Emulator.inject}. */
  faults: FaultPlan = {};
  /** The HTTP server (WebSocket upgrades included). */
  protected readonly server: Server;
  /** The WebSocket server behind it. */
  protected readonly wss: WebSocketServer;
  private readonly wsRoutes = new Map<string, WsRoute>();
  private readonly httpRoutes = new Map<string, HttpRoute>();
  private readonly sockets = new Set<WebSocket>();
  private readonly timers = new Set<ClockTimer>();
  private readonly secure?: HttpsServer;
  private certificate?: EmulatorTlsCertificate;
  private listening?: Promise<void>;
  private stopped = false;

  /**
   * Listens nowhere until `start()`.
   * @param options The key accepted, port, payload limit, handshake delay, clock, TLS.
   */
  constructor(protected readonly options: EmulatorOptions = {}) {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => void this.onHttp(req, res);
    // In TLS mode the certificate is set at start(), once made.
    this.secure = options.tls ? createHttpsServer(onRequest) : undefined;
    this.server = this.secure ?? createServer(onRequest);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload ?? 1 << 20,
      handleProtocols: (protocols) => (protocols.has('token') ? 'token' : protocols.has('bearer') ? 'bearer' : false),
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  /** Injects faults (merged into the current plan). */
  inject(plan: FaultPlan): this {
    Object.assign(this.faults, plan);
    return this;
  }

  /**
   * Starts listening (in TLS mode, once its certificate is ready); resolves to the base URL
   * (`http://127.0.0.1:PORT`, or `https://` in TLS mode).
   * @throws ConfigError in TLS mode when `selfsigned` is missing or the given key or certificate is unusable.
   */
  async start(): Promise<string> {
    this.listening ??= this.startServer();
    await this.listening;
    return this.httpUrl;
  }

  private async startServer(): Promise<void> {
    if (this.secure) {
      const tls = this.options.tls === true ? await localCertificate() : (this.options.tls as EmulatorTlsCertificate);
      const unusable = 'The emulator could not use the key and certificate given as `tls`: they must be PEM strings that match each other';
      if (typeof tls.key !== 'string' || typeof tls.cert !== 'string') throw new ConfigError(unusable);
      try {
        this.secure.setSecureContext({ key: tls.key, cert: tls.cert });
      } catch (err) {
        throw new ConfigError(unusable, { cause: err });
      }
      this.certificate = tls;
      if (this.stopped) throw new Error('emulator closed before it started');
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve());
    });
  }

  /** `http://127.0.0.1:PORT` (`https://` in TLS mode). */
  get httpUrl(): string {
    const addr = this.server.address();
    if (!addr || typeof addr === 'string') throw new Error('emulator is not listening; call start() first');
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${addr.port}`;
  }

  /** `ws://127.0.0.1:PORT` (`wss://` in TLS mode). */
  get wsUrl(): string {
    return this.httpUrl.replace(/^http/, 'ws');
  }

  /**
   * In TLS mode, the certificate (PEM) a client trusts to reach the emulator: `ca` in the options
   * of `ws`, `https` or `tls`, or the content of a file named by `NODE_EXTRA_CA_CERTS` (read when a
   * Node process starts: set it for a child process). Undefined without TLS.
   * @throws Error in TLS mode before `start()`.
   */
  get ca(): string | undefined {
    if (!this.secure) return undefined;
    if (!this.certificate) throw new Error('emulator is not listening; call start() first');
    return this.certificate.ca ?? this.certificate.cert;
  }

  /**
   * `http://127.0.0.1:PORT/v1` (`https://` in TLS mode): the `baseURL` to give the matching client
   * (scheme, host and path up to the API version; WebSocket clients use its `ws:` or `wss:` form).
   */
  get baseURL(): string {
    return `${this.httpUrl}/v1`;
  }

  /** Number of WebSocket connections open now. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Closes every connection and the server. */
  async close(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    if (this.server.listening) await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Disposes with `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Adds a WebSocket route (an exact path or a pattern). */
  protected ws(path: string | RegExp, route: WsRoute): void {
    this.wsRoutes.set(typeof path === 'string' ? `^${path}$` : path.source, route);
  }

  /** Adds an HTTP route. */
  protected http(path: string, route: HttpRoute): void {
    this.httpRoutes.set(path, route);
  }

  /** Checks a request before it is served (auth, parameters); a result refuses it. */
  protected guard: Guard = () => undefined;

  /** The clock of the emulated delays. */
  protected get clock(): Clock {
    return this.options.clock ?? realClock;
  }

  /** A timer that is cleared when the emulator closes. */
  protected later(ms: number, fn: () => void): ClockTimer {
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** Cancels a timer made with {@link Emulator.later}. */
  protected cancel(t: ClockTimer | undefined): void {
    if (!t) return;
    this.clock.clearTimeout(t);
    this.timers.delete(t);
  }

  /** Takes one refusal from the fault plan, if any. */
  protected takeRefusal(): {
    /** The HTTP status. */
    status: number;
    /** Headers to send. */
    headers?: Record<string, string>;
    /** The body. */
    body: string;
  } | undefined {
    const r = this.faults.refuse;
    if (!r || r.count <= 0) return undefined;
    r.count--;
    if (r.count === 0) delete this.faults.refuse;
    const status = r.status ?? 503;
    const headers: Record<string, string> = {};
    if (r.retryAfter !== undefined) headers['retry-after'] = String(r.retryAfter);
    return { status, headers, body: JSON.stringify({ error: { message: `Emulated failure (${status})`, type: status === 429 ? 'requests' : 'server_error', code: r.code ?? (status === 429 ? 'rate_limit_exceeded' : null), param: null } }) };
  }

  private keyOf(req: IncomingMessage, url: URL): { route: string; pattern: string } | undefined {
    for (const pattern of this.wsRoutes.keys()) if (new RegExp(pattern).test(url.pathname)) return { route: url.pathname, pattern };
    return undefined;
  }

  private noteConnection(req: IncomingMessage, url: URL): void {
    this.record.connections.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), headers: { ...req.headers } });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const slow = this.faults.slowHandshake;
    this.faults.slowHandshake = undefined;
    const delay = (this.options.handshakeDelayMs ?? 0) + (slow?.delayMs ?? 0);
    if (delay > 0) this.later(delay, () => this.answerUpgrade(req, socket, head));
    else this.answerUpgrade(req, socket, head);
  }

  private answerUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = this.keyOf(req, url);
    const refusal = match ? this.takeRefusal() ?? this.guard(req, url) : { status: 404, body: 'not found' };
    if (refusal) {
      const headers = Object.entries(refusal.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(`HTTP/1.1 ${refusal.status} Error\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(refusal.body)}\r\n${headers}Connection: close\r\n\r\n${refusal.body}`);
      return;
    }
    const route = this.wsRoutes.get(match!.pattern)!;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('error', () => {}); // e.g. a client sending more than maxPayload: ws closes with 1009
      this.noteConnection(req, url);
      route(ws, req, url);
    });
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = this.httpRoutes.get(url.pathname);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > (this.options.maxPayload ?? 1 << 20)) {
        res.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Request too large', type: 'invalid_request_error' } }));
        return;
      }
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `No route ${url.pathname}`, type: 'invalid_request_error' } }));
      return;
    }
    const refusal = this.guard(req, url) ?? this.takeRefusal();
    if (refusal) {
      res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.headers }).end(refusal.body);
      return;
    }
    this.noteConnection(req, url);
    try {
      this.record.bodies.push(JSON.parse(body.toString('utf8')));
    } catch {
      this.record.bodies.push(body.toString('utf8'));
    }
    try {
      await route(req, res, url, body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Emulator error: ${(err as Error).message}`, type: 'server_error' } }));
    }
  }
}

/** Reads the key from `Authorization: Token|Bearer <key>` or the `token`/`bearer` subprotocol. */
export function credentialOf(req: IncomingMessage, url?: URL): {
  /** How the key came, lower case: `token` or `bearer` (header or subprotocol), or `query` (`api_key`). */
  scheme: string;
  /** The key. */
  key: string;
} | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const [scheme, ...rest] = auth.split(' ');
    return { scheme: scheme!.toLowerCase(), key: rest.join(' ') };
  }
  const proto = req.headers['sec-websocket-protocol'];
  if (proto) {
    const [scheme, key] = proto.split(',').map((s) => s.trim());
    if ((scheme === 'token' || scheme === 'bearer') && key) return { scheme, key };
  }
  const q = url?.searchParams.get('api_key');
  if (q) return { scheme: 'query', key: q };
  return undefined;
}

/** Parses a JSON text frame, or returns undefined. */
export function parseJson(data: unknown): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(String(data));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
