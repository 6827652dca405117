import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { type Span, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import { EventEmitter } from 'eventemitter3';
import type * as PromClient from 'prom-client';
import { BROWSER_CLIENT_JS } from '../adapters/browser-client';
import { type BrowserCall, type BrowserHandlerOptions, browserHandler } from '../adapters/browser';
import { type CallLimits, callHook, closeOnceWritten, refuseUpgrade } from '../adapters/guard';
import { type TwilioCall, type TwilioStart, twilioHandler, twiml, validateTwilioSignature } from '../adapters/twilio';
import type { AudioInput, AudioOutput } from '../adapters/types';
import { type WebRtcCall, type WebRtcHandlerOptions, webrtcHandler } from '../adapters/webrtc';
import { ConfigError, VoxlineError } from '../errors';
import { checkOptionNames } from '../provider';
import { VOICE_SERVER_OPTIONS } from '../option-names';
import { VoiceSession, type VoiceSessionOptions } from '../session/session';
import { type CallRecord, CallRecorder, type RecordSink } from './records';

/** What the agent factory learns about a call. */
export interface CallInfo {
  /** `twilio`, `browser` (WebSocket) or `webrtc`. */
  channel: 'twilio' | 'browser' | 'webrtc';
  /** The upgrade request (for `webrtc`, the POST of the offer). */
  request: IncomingMessage;
  /** Twilio's call id, for phone calls. */
  callSid?: string | undefined;
  /** TwiML `<Parameter>`s, for phone calls. */
  parameters?: Record<string, string> | undefined;
}

/** Options of {@link createVoiceServer}. */
export interface VoiceServerOptions {
  /** Builds the session of each call (options, or a ready `VoiceSession`). */
  agent(call: CallInfo): VoiceSessionOptions | VoiceSession | Promise<VoiceSessionOptions | VoiceSession>;
  /**
   * Most connections at once (default 100): a slot is taken at the WebSocket upgrade, before the
   * call starts, and freed when the socket closes; over it, upgrades are refused with 503 so a
   * balancer retries elsewhere.
   */
  maxCalls?: number | undefined;
  /** Limits on each call's socket: start and idle timeouts, heartbeats, input rate (see {@link CallLimits}). */
  limits?: CallLimits | undefined;
  /**
   * Phone calls through Twilio (off unless given): `POST /twiml` and the media stream at
   * `/twilio`. `publicUrl` is the base URL Twilio reaches (e.g. `https://agent.example.com`): the
   * stream URL in the TwiML is built from it, never from a request header, and signatures are
   * checked against it. `authToken` checks `X-Twilio-Signature` on the webhook and the upgrade.
   *
   * The upgrade's signature covers only the stream URL, the same for every call, so a captured
   * header can be replayed: `parameters` and `verifyStart` let the app pass a short-lived token
   * of its own (e.g. an HMAC'd expiry bound to the CallSid) and refuse a start message without a
   * valid one (see docs/phone.md).
   */
  twilio?: {
    /** The base URL Twilio reaches, e.g. `https://agent.example.com`. */
    publicUrl: string;
    /** The account's auth token: checks `X-Twilio-Signature`. */
    authToken: string;
    /**
     * `<Parameter>`s to put in the TwiML answer, from the signed webhook's form (`CallSid`,
     * `From`, ...); Twilio sends them back in the stream's `start` message (`customParameters`).
     * A hook that throws, or takes more than 5 s, answers the webhook with 500.
     */
    parameters?: ((webhook: URLSearchParams) => Record<string, string> | Promise<Record<string, string>>) | undefined;
    /**
     * Decides whether a started stream may become a call, from its `start` message (`callSid`,
     * `customParameters`): false closes it (1008, counted in `voxline_calls_refused_total`) before
     * the agent factory runs. A hook that throws, or does not answer within
     * `limits.startTimeoutMs` (default 5000 ms), refuses the call.
     */
    verifyStart?: ((start: TwilioStart, request: IncomingMessage) => boolean | Promise<boolean>) | undefined;
  } | undefined;
  /**
   * Browser calls at `/browser` (off unless given): an `authorize(request)` hook, or `public: true`
   * to let anyone call; `allowedOrigins` (see `browserHandler`).
   */
  browser?: Pick<BrowserHandlerOptions, 'allowedOrigins' | 'authorize' | 'public'> | undefined;
  /**
   * Browser calls over WebRTC at `POST /webrtc` (off unless given; needs the optional package
   * `@roamhq/wrtc`): the same `authorize`/`public`/`allowedOrigins` as `browser`, plus
   * `iceServers` (STUN/TURN) and `publicIp` (see `webrtcHandler`). Each call takes a `maxCalls` slot.
   */
  webrtc?: Pick<WebRtcHandlerOptions, 'allowedOrigins' | 'authorize' | 'public' | 'iceServers' | 'publicIp'> | undefined;
  /** How long a drain lets calls finish before ending them (default 30 000 ms). */
  drainTimeoutMs?: number | undefined;
  /** After `drainTimeoutMs`, how long ending the remaining calls may take before their sockets are cut (default 5000 ms). */
  closeTimeoutMs?: number | undefined;
  /** Drain and exit on SIGTERM (default false). */
  handleSignals?: boolean | undefined;
  /**
   * Called once when each call ends, however it ended (hang-up, the caller gone, an error, a
   * provider failure, the drain), with its {@link CallRecord}: transcript and heard text, tool
   * calls, usage and cost, metrics, how it ended. Never during the call: the call's socket and
   * slot are already free. A hook that throws is logged; one that hangs is not waited for past
   * 5 s (a drain waits that long at most). Calls refused before the agent factory ran (at
   * capacity, draining, refused by `verifyStart`) have no record.
   */
  onCallEnd?: ((record: CallRecord) => void | Promise<void>) | undefined;
  /**
   * Where each call's record is also written, e.g. `jsonlRecords('/var/log/voxline/calls.jsonl')`
   * (see {@link onCallEnd}). A drain waits for its `flush()` (up to 5 s).
   */
  records?: RecordSink | undefined;
  /** Prometheus registry to use, a prom-client `Registry` (default: a new one). */
  registry?: MetricsRegistry | undefined;
  /**
   * Where the server reports what went wrong outside a call (a `/metrics` collector that threw, a
   * refused Twilio start), one line each, never with a secret (default: `console`). Anything with
   * a `warn(message)` method: console, pino, winston.
   */
  logger?: {
    /** Called with one line describing what happened. */
    warn(message: string): void;
  } | undefined;
}

/**
 * What the server uses of a Prometheus registry: a prom-client `Registry` is one. Written out here
 * so that voxline's types do not name the optional peer `prom-client` (an app without it still
 * type-checks).
 */
export interface MetricsRegistry {
  /** The registered metrics in Prometheus' text format. */
  metrics(): Promise<string>;
  /** The content type of that text. */
  readonly contentType: string;
  /** Adds a metric (prom-client's metrics call it when given `registers`). */
  registerMetric(metric: object): void;
}

/** Events of a {@link VoiceServer}. */
export interface VoiceServerEvents {
  /** A call failed: the agent factory threw, or its session ended with an error. */
  call_error: [error: VoxlineError, call: CallInfo];
}

/** A running voice server. */
export interface VoiceServer extends EventEmitter<VoiceServerEvents> {
  /** The HTTP server (listen on it, or use {@link VoiceServer.listen}). */
  readonly server: Server;
  /** The Prometheus registry behind `/metrics`. */
  readonly registry: MetricsRegistry;
  /** Calls in progress (sessions running). */
  readonly activeCalls: number;
  /** Sockets accepted and not yet closed, started or not: what `maxCalls` limits. */
  readonly connections: number;
  /** True once draining started. */
  readonly draining: boolean;
  /** Listens on `port` (0 for any) and resolves to the port. */
  listen(port: number, host?: string): Promise<number>;
  /**
   * Stops taking calls (`/readyz` says 503, new upgrades are refused, a connection that starts its
   * call now is closed), waits for every accepted socket up to `drainTimeoutMs`, then ends the
   * rest politely (their audio drains) and cuts whatever is left after `closeTimeoutMs`.
   */
  drain(): Promise<void>;
}

/**
 * One HTTP + WebSocket server for phone calls (Twilio: `POST /twiml`, media at `/twilio`) and
 * browsers (`/browser`, client at `/voxline-client.js`), a `VoiceSession` per call, a limit on
 * concurrent calls, `/healthz`, `/readyz`, `/metrics` (Prometheus) and OpenTelemetry spans per
 * call and turn (a no-op unless the app registers a tracer provider). Stateless: scale it out
 * behind any load balancer, or over all cores with {@link runCluster}.
 */
export function createVoiceServer(options: VoiceServerOptions): VoiceServer {
  if (typeof options?.agent !== 'function') throw new ConfigError('createVoiceServer needs an agent factory');
  checkOptionNames('createVoiceServer', options, VOICE_SERVER_OPTIONS);
  const maxCalls = options.maxCalls ?? 100;
  const tw = options.twilio;
  if (tw && (!tw.authToken || typeof tw.authToken !== 'string')) throw new ConfigError('createVoiceServer: twilio needs the account authToken (X-Twilio-Signature is checked on every request)');
  if (tw && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(tw.publicUrl ?? '')) throw new ConfigError('createVoiceServer: twilio needs publicUrl, the http(s) base URL Twilio reaches (e.g. https://agent.example.com)');
  const publicUrl = tw?.publicUrl.replace(/\/+$/, '');
  const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
  if (!options.twilio && !options.browser && !options.webrtc) throw new ConfigError('createVoiceServer serves no calls: give it `twilio`, `browser` or `webrtc` (or more than one)');
  // A prom-client Registry (the public type only says what the server calls).
  const registry = (options.registry ?? new Registry()) as PromClient.Registry;
  if (!options.registry) collectDefaultMetrics({ register: registry }); // CPU, memory, event-loop lag
  const m = {
    active: new Gauge({ name: 'voxline_active_calls', help: 'Calls in progress', registers: [registry] }),
    calls: new Counter({ name: 'voxline_calls_total', help: 'Calls accepted, by channel', labelNames: ['channel'], registers: [registry] }),
    refused: new Counter({ name: 'voxline_calls_refused_total', help: 'Calls refused (at capacity, draining, an unsigned webhook, or by twilio.verifyStart)', registers: [registry] }),
    failed: new Counter({ name: 'voxline_calls_failed_total', help: 'Calls that failed (the agent factory threw, or the session ended with an error), by channel', labelNames: ['channel'], registers: [registry] }),
    connections: new Gauge({ name: 'voxline_connections', help: 'Sockets accepted and not yet closed (what maxCalls limits)', registers: [registry] }),
    turns: new Counter({ name: 'voxline_turns_total', help: 'Completed agent turns', registers: [registry] }),
    v2v: new Histogram({ name: 'voxline_voice_to_voice_seconds', help: 'End of user speech to first agent audio', buckets: [0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3], registers: [registry] }),
    errors: new Counter({ name: 'voxline_provider_errors_total', help: 'Errors by provider and code', labelNames: ['provider', 'code'], registers: [registry] }),
    bargeIns: new Counter({ name: 'voxline_barge_ins_total', help: 'Times the user interrupted the agent', registers: [registry] }),
  };
  const tracer = trace.getTracer('voxline');
  const events = new EventEmitter<VoiceServerEvents>();
  const sessions = new Set<VoiceSession>();
  let slots = 0;
  let draining = false;
  const canAccept = () => !draining && slots < maxCalls;
  const startTimeoutMs = options.limits?.startTimeoutMs ?? 5000;
  const log = (message: string) => {
    try {
      (options.logger ?? console).warn(`voxline: ${message}`);
    } catch {
      // a logger that throws loses the line, not the server
    }
  };
  const failed = (info: CallInfo, err: unknown, what: string) => {
    const e = err instanceof VoxlineError ? err : new ConfigError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    m.failed.inc({ channel: info.channel });
    m.errors.inc({ provider: e.provider ?? 'agent', code: e.code });
    events.emit('call_error', e, info);
  };

  /** Record deliveries not finished yet (each bounded by HOOK_TIMEOUT_MS): a drain waits for them. */
  const delivering = new Set<Promise<void>>();
  /**
   * Calls between their agent factory and their record, each with a way to deliver its record
   * now: a drain waits for them, then records those whose session never finished closing.
   */
  const inFlight = new Map<Promise<void>, () => void>();
  /** Set once a drain ends the calls still going: they end as `drain`. */
  let cutting = false;
  const deliver = (record: CallRecord) => {
    const to = (what: string, hook: () => void | Promise<void>) => {
      const p = withDeadline(callHook(hook), HOOK_TIMEOUT_MS, 'no answer')
        .then(() => {}, (err: unknown) => log(`${what} failed for call ${record.id} (${record.ending}): ${oneLine(err)}`))
        .finally(() => delivering.delete(p));
      delivering.add(p);
    };
    // The sink first: a hook that changes the record cannot change what is stored.
    if (options.records) to('the records sink', () => options.records!.write(record));
    if (options.onCallEnd) to('the onCallEnd hook', () => options.onCallEnd!(record));
  };

  const runCall = (info: CallInfo, input: AudioInput, output: AudioOutput, caller: CallerState, onSession?: (s: VoiceSession) => void): Promise<void> => {
    if (draining) {
      m.refused.inc();
      return output.close();
    }
    const recorder = new CallRecorder({ channel: info.channel, callSid: info.callSid });
    let recorded = false;
    /** Delivers the call's record, once: when the call ends, or when a drain gives up waiting for it. */
    const record = (fatal: unknown, stuck?: string) => {
      if (recorded) return;
      recorded = true;
      try {
        deliver(recorder.build({ fatal, drained: cutting || stuck !== undefined, caller: caller.state, stuck }));
      } catch (err) {
        log(`the record of a call could not be built: ${oneLine(err)}`);
      }
    };
    let fatal: unknown;
    const call = callOnce(info, input, output, recorder, onSession)
      .catch((err: unknown) => void (fatal = err))
      .then(() => record(fatal))
      .finally(() => inFlight.delete(call));
    inFlight.set(call, () => record(undefined, `its session had not finished closing ${options.closeTimeoutMs ?? 5000} ms after the drain ended it`));
    return call;
  };

  /** Runs one call; rejects with what ended it if it failed. */
  const callOnce = async (info: CallInfo, input: AudioInput, output: AudioOutput, recorder: CallRecorder, onSession?: (s: VoiceSession) => void) => {
    let session: VoiceSession;
    try {
      const made = await options.agent(info);
      session = made instanceof VoiceSession ? made : new VoiceSession(made);
    } catch (err) {
      failed(info, err, 'the agent factory failed');
      await output.close();
      throw err;
    }
    recorder.watch(session);
    sessions.add(session);
    m.active.set(sessions.size);
    m.calls.inc({ channel: info.channel });
    const span = tracer.startSpan('voxline.call', { attributes: { 'voxline.channel': info.channel, ...(info.callSid ? { 'voxline.call_sid': info.callSid } : {}) } });
    session.on('turn', (t) => {
      m.turns.inc();
      m.v2v.observe(t.latency.voiceToVoice / 1000);
      turnSpans(span, t.index, t.timestamps, t.agent);
    });
    session.on('handoff', (h) => span.addEvent('voxline.handoff', { 'voxline.agent': h.to, 'voxline.handoff.source': h.source, ...(h.from !== undefined ? { 'voxline.handoff.from': h.from } : {}) }));
    session.on('interrupted', () => m.bargeIns.inc());
    session.on('error', (e) => m.errors.inc({ provider: e.provider ?? 'unknown', code: e.code }));
    onSession?.(session);
    try {
      await session.run({ input, output });
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      failed(info, err, 'the session failed');
      throw err;
    } finally {
      span.end();
      sessions.delete(session);
      m.active.set(sessions.size);
    }
  };

  /** One span per turn (with the agent that answered, when the session has agents), with STT, LLM and TTS child spans from the turn's timestamps. */
  const turnSpans = (parent: Span, index: number, t: import('../session/metrics').TurnTimestamps, agent?: string) => {
    const origin = performance.timeOrigin;
    const at = (ms: number) => new Date(origin + ms);
    const ctx = trace.setSpan(otelContext.active(), parent);
    const turn = tracer.startSpan('voxline.turn', { startTime: at(t.endOfSpeech), attributes: { 'voxline.turn': index, ...(agent !== undefined ? { 'voxline.agent': agent } : {}) } }, ctx);
    const tctx = trace.setSpan(ctx, turn);
    tracer.startSpan('stt', { startTime: at(t.endOfSpeech) }, tctx).end(at(t.sttFinal));
    if (t.llmFirstToken !== undefined) tracer.startSpan('llm', { startTime: at(t.llmRequest) }, tctx).end(at(t.llmFirstToken));
    if (t.firstTextToTts !== undefined && t.ttsFirstAudio !== undefined) tracer.startSpan('tts', { startTime: at(t.firstTextToTts) }, tctx).end(at(t.ttsFirstAudio));
    turn.end(at(t.firstAudioOut ?? t.sttFinal));
  };

  const streamUrl = `${publicUrl?.replace(/^http/, 'ws')}/twilio`;
  const twilio = twilioHandler({
    ...options.limits,
    authToken: tw?.authToken,
    unsigned: !tw, // the endpoint is off then (404)
    publicUrl: streamUrl,
    onCall: async (call: TwilioCall, request) => {
      call.on('error', (e) => m.errors.inc({ provider: 'twilio', code: e.code }));
      const caller = callerState(call.socket);
      call.once('stop', () => (caller.state = 'stop'));
      const start = await call.started;
      const refusal = tw?.verifyStart && (await verifyStartOf(tw.verifyStart, start, request, startTimeoutMs));
      if (refusal) {
        m.refused.inc();
        // The CallSid comes from the stranger's message: shortened, and nothing but word characters.
        log(`twilio call ${start.callSid.slice(0, 64).replace(/[^\w-]/g, '?') || '(no CallSid)'} refused: ${refusal}`);
        return void call.socket.close(1008, 'call refused');
      }
      await runCall({ channel: 'twilio', request, callSid: start.callSid, parameters: start.customParameters }, call.input, call.output, caller);
    },
  });
  const browser = browserHandler({
    ...options.limits,
    allowedOrigins: options.browser?.allowedOrigins,
    authorize: options.browser?.authorize,
    public: options.browser ? options.browser.public : true, // the endpoint is off then (404)
    onCall: async (call: BrowserCall, request) => {
      call.on('error', (e) => m.errors.inc({ provider: 'browser', code: e.code }));
      const caller = callerState(call.socket);
      await call.started;
      await runCall({ channel: 'browser', request }, call.input, call.output, caller, (s) => call.attach(s));
    },
  });

  const webrtc = options.webrtc && webrtcHandler({
    ...options.limits,
    ...options.webrtc,
    onCall: async (call: WebRtcCall, request) => {
      slots++;
      m.connections.set(slots);
      call.once('end', () => m.connections.set(--slots));
      call.on('error', (e) => m.errors.inc({ provider: 'webrtc', code: e.code }));
      await call.connected;
      // What the page's side did, read when the call's record is made.
      const caller: CallerState = { get state() { return call.endedBy ?? 'open'; } };
      await runCall({ channel: 'webrtc', request }, call.input, call.output, caller, (s) => call.attach(s));
      call.hangUp();
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (path === '/readyz') {
      const ok = canAccept();
      return void res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready' : draining ? 'draining' : 'at capacity');
    }
    if (path === '/metrics') return void answerMetrics(res);
    if (path === '/voxline-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_CLIENT_JS);
    if (path === '/twiml' && tw) return void answerTwiml(req, res);
    if (path === '/webrtc' && webrtc) {
      if (canAccept()) return void webrtc.handleRequest(req, res).catch(() => void (res.headersSent || res.writeHead(500).end()));
      m.refused.inc();
      return void res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('Service Unavailable');
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  /**
   * `/metrics`: a collector of the registry (the app's own included) that throws or hangs answers
   * 500 and is logged, instead of an unhandled rejection or a request that never ends.
   */
  const answerMetrics = (res: ServerResponse) => {
    void withDeadline(callHook(() => registry.metrics()), HOOK_TIMEOUT_MS, 'no answer')
      .then((text) => void res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch((err: unknown) => {
        log(`/metrics failed (a collector of the Prometheus registry threw or hung): ${oneLine(err)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed');
      });
  };

  /** Twilio's voice webhook: signed POSTs only; the TwiML connects the call to `/twilio`. */
  const answerTwiml = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('POST only');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) return void chunks.push(c);
      if (!res.headersSent) res.writeHead(413, { connection: 'close' }).end();
      req.destroy();
    });
    req.on('end', () => {
      if (res.headersSent) return;
      // Every value of a repeated parameter counts in Twilio's signature.
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const signature = req.headers['x-twilio-signature'];
      if (!validateTwilioSignature(tw!.authToken, `${publicUrl}${req.url ?? '/twiml'}`, params, typeof signature === 'string' ? signature : undefined)) {
        m.refused.inc();
        return void res.writeHead(403, { 'content-type': 'text/plain' }).end('invalid signature');
      }
      const parameters = tw!.parameters;
      if (!parameters) return void res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml(streamUrl));
      void withDeadline(callHook(() => parameters(params)), HOOK_TIMEOUT_MS, 'no answer')
        .then((p) => void res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml(streamUrl, p)))
        .catch((err: unknown) => {
          log(`the twilio.parameters hook failed, the call was not connected: ${oneLine(err)}`);
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('the TwiML could not be made');
        });
    });
  };

  server.on('upgrade', (req, socket, head) => {
    // Node's HTTP server leaves an upgrade socket without an error listener: a client's reset
    // would otherwise be an uncaught exception.
    socket.on('error', () => {});
    const path = (req.url ?? '/').split('?')[0];
    const handler = path === '/twilio' && tw ? twilio : path === '/browser' && options.browser ? browser : undefined;
    if (!handler) return void refuseUpgrade(socket, 404, 'Not Found');
    if (!canAccept()) {
      m.refused.inc();
      return void refuseUpgrade(socket, 503, 'Service Unavailable', '', { 'Retry-After': '1' });
    }
    // The slot is taken now, before the call starts, and freed when the socket closes.
    slots++;
    m.connections.set(slots);
    // The handler (an authorize hook) has until the start timeout to accept or refuse.
    const deadline = setTimeout(() => socket.destroy(), startTimeoutMs);
    socket.once('close', () => {
      clearTimeout(deadline);
      m.connections.set(--slots);
    });
    void Promise.resolve()
      .then(() => handler.handleUpgrade(req, socket, head))
      .then(
        () => {
          clearTimeout(deadline);
          // Refused: the answer was written and the writing side ended. Close it now rather than
          // when the client closes its side, which a stranger never does.
          if (socket.writableEnded) closeOnceWritten(socket);
        },
        () => socket.destroy(),
      );
  });

  let drainPromise: Promise<void> | undefined;
  const drain = () => {
    drainPromise ??= (async () => {
      draining = true;
      server.close();
      const pause = () => new Promise((r) => setTimeout(r, 50));
      const deadline = performance.now() + (options.drainTimeoutMs ?? 30_000);
      while (slots && performance.now() < deadline) await pause();
      cutting = slots > 0;
      // Past the deadline: end what is left, letting the audio already queued play out, but
      // never waiting on a provider that does not answer for longer than closeTimeoutMs.
      const closing = Promise.all([...sessions].map((s) => s.close({ reason: 'server draining', drain: true })));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closing, new Promise((r) => (timer = setTimeout(r, options.closeTimeoutMs ?? 5000)))]);
      clearTimeout(timer);
      for (const ws of [...twilio.wss.clients, ...browser.wss.clients]) ws.terminate();
      for (const call of [...(webrtc?.calls ?? [])]) call.hangUp();
      server.closeAllConnections();
      for (let i = 0; slots && i < 20; i++) await pause();
      // Every call that ran has its record delivered (or given up on) and the sink flushed.
      await withDeadline(Promise.all(inFlight.keys()), options.closeTimeoutMs ?? 5000, 'no answer').catch(() => {
        // A session that never finishes closing still leaves its record (once: not again if it ends later).
        log(`drain: ${inFlight.size} call(s) had not finished closing; their records are delivered now`);
        for (const force of inFlight.values()) force();
      });
      // Every record was handed to the sink by now: its flush runs while the deliveries finish.
      const sink = options.records;
      const flushed = sink?.flush && withDeadline(callHook(() => sink.flush!()), HOOK_TIMEOUT_MS, 'no answer').catch((err: unknown) => log(`drain: the records sink's flush failed: ${oneLine(err)}`));
      await Promise.all([...delivering, flushed]);
    })();
    return drainPromise;
  };
  if (options.handleSignals) process.once('SIGTERM', () => void drain().then(() => process.exit(0)));

  return Object.defineProperties(
    Object.assign(events, {
      server,
      registry: registry as MetricsRegistry,
      listen: (port: number, host = '0.0.0.0') =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve((server.address() as { port: number }).port));
        }),
      drain,
    }),
    {
      activeCalls: { get: () => sessions.size, enumerable: true },
      connections: { get: () => slots, enumerable: true },
      draining: { get: () => draining, enumerable: true },
    },
  ) as VoiceServer;
}

/** What is known of the caller's side of a call's socket. */
interface CallerState {
  /** `stop`: it said goodbye (Twilio's `stop`); `closed`: a normal close; `vanished`: any other end; `open`. */
  state: 'stop' | 'closed' | 'vanished' | 'open';
}

/** Watches a call's socket: a close without a normal code (a reset, a heartbeat or idle timeout) is the caller vanishing. */
function callerState(socket: import('ws').WebSocket): CallerState {
  const s: CallerState = { state: 'open' };
  socket.once('close', (code: number) => {
    if (s.state === 'open') s.state = code === 1000 || code === 1001 || code === 1005 ? 'closed' : 'vanished';
  });
  return s;
}

/** How long the `/metrics` collectors, the `twilio.parameters` hook and each record delivery may take. */
const HOOK_TIMEOUT_MS = 5000;

/** Runs `verifyStart`: undefined when it accepts the call, else why it was refused (a false, a throw, no answer after `ms`). */
async function verifyStartOf(hook: (start: TwilioStart, request: IncomingMessage) => boolean | Promise<boolean>, start: TwilioStart, request: IncomingMessage, ms: number): Promise<string | undefined> {
  return withDeadline(callHook(() => hook(start, request)), ms, 'no answer').then(
    (ok) => (ok === true ? undefined : 'verifyStart did not accept its start message'),
    (err: unknown) => `verifyStart failed: ${oneLine(err)}`,
  );
}

/** `p`, or a rejection with `why` after `ms`; the timer never outlives the race. */
function withDeadline<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${why} after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** One line about a hook's error: its name and (shortened) message, no stack. */
function oneLine(err: unknown): string {
  const e = err as Error | undefined;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)}`;
}

/** `prom-client`, an optional peer, loaded when a server is made: a missing install is a ConfigError saying what to do. */
function promClient(): typeof PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as typeof PromClient;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new ConfigError('createVoiceServer needs the optional package prom-client for its /metrics: npm install prom-client', { cause: err });
  }
}
