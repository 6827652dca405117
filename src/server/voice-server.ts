import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type Span, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BROWSER_CLIENT_JS } from '../adapters/browser-client';
import { type BrowserCall, type BrowserHandlerOptions, browserHandler } from '../adapters/browser';
import { type TwilioCall, twilioHandler, twiml } from '../adapters/twilio';
import type { AudioInput, AudioOutput } from '../adapters/types';
import { ConfigError } from '../errors';
import { VoiceSession, type VoiceSessionOptions } from '../session/session';

/** What the agent factory learns about a call. */
export interface CallInfo {
  /** `twilio` or `browser`. */
  channel: 'twilio' | 'browser';
  /** The upgrade request. */
  request: IncomingMessage;
  /** Twilio's call id, for phone calls. */
  callSid?: string;
  /** TwiML `<Parameter>`s, for phone calls. */
  parameters?: Record<string, string>;
}

/** Options of {@link createVoiceServer}. */
export interface VoiceServerOptions {
  /** Builds the session of each call (options, or a ready `VoiceSession`). */
  agent(call: CallInfo): VoiceSessionOptions | VoiceSession | Promise<VoiceSessionOptions | VoiceSession>;
  /** Most calls at once; over it, calls are refused with 503 so a balancer retries elsewhere (default 100). */
  maxCalls?: number;
  /** Twilio: the public base URL Twilio reaches (e.g. `https://agent.example.com`), and the auth token to check signatures. */
  twilio?: { publicUrl?: string; authToken?: string };
  /** Browsers: origins allowed and an authorisation hook (see `browserHandler`). */
  browser?: Pick<BrowserHandlerOptions, 'allowedOrigins' | 'authorize'>;
  /** How long a drain lets calls finish before ending them (default 30 000 ms). */
  drainTimeoutMs?: number;
  /** Drain and exit on SIGTERM (default false). */
  handleSignals?: boolean;
  /** Prometheus registry to use (default: a new one). */
  registry?: Registry;
}

/** A running voice server. */
export interface VoiceServer {
  /** The HTTP server (listen on it, or use {@link VoiceServer.listen}). */
  readonly server: Server;
  /** The Prometheus registry behind `/metrics`. */
  readonly registry: Registry;
  /** Calls in progress. */
  readonly activeCalls: number;
  /** True once draining started. */
  readonly draining: boolean;
  /** Listens on `port` (0 for any) and resolves to the port. */
  listen(port: number, host?: string): Promise<number>;
  /**
   * Stops taking calls (`/readyz` says 503, new calls are refused), lets the active ones finish up
   * to `drainTimeoutMs`, then ends the rest politely (their audio drains), and closes.
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
  const maxCalls = options.maxCalls ?? 100;
  const registry = options.registry ?? new Registry();
  if (!options.registry) collectDefaultMetrics({ register: registry }); // CPU, memory, event-loop lag
  const m = {
    active: new Gauge({ name: 'voxline_active_calls', help: 'Calls in progress', registers: [registry] }),
    calls: new Counter({ name: 'voxline_calls_total', help: 'Calls accepted, by channel', labelNames: ['channel'], registers: [registry] }),
    refused: new Counter({ name: 'voxline_calls_refused_total', help: 'Calls refused (at capacity or draining)', registers: [registry] }),
    turns: new Counter({ name: 'voxline_turns_total', help: 'Completed agent turns', registers: [registry] }),
    v2v: new Histogram({ name: 'voxline_voice_to_voice_seconds', help: 'End of user speech to first agent audio', buckets: [0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3], registers: [registry] }),
    errors: new Counter({ name: 'voxline_provider_errors_total', help: 'Errors by provider and code', labelNames: ['provider', 'code'], registers: [registry] }),
    bargeIns: new Counter({ name: 'voxline_barge_ins_total', help: 'Times the user interrupted the agent', registers: [registry] }),
  };
  const tracer = trace.getTracer('voxline');
  const sessions = new Set<VoiceSession>();
  let draining = false;
  const canAccept = () => !draining && sessions.size < maxCalls;

  const runCall = async (info: CallInfo, input: AudioInput, output: AudioOutput, onSession?: (s: VoiceSession) => void) => {
    const made = await options.agent(info);
    const session = made instanceof VoiceSession ? made : new VoiceSession(made);
    sessions.add(session);
    m.active.set(sessions.size);
    m.calls.inc({ channel: info.channel });
    const span = tracer.startSpan('voxline.call', { attributes: { 'voxline.channel': info.channel, ...(info.callSid ? { 'voxline.call_sid': info.callSid } : {}) } });
    session.on('turn', (t) => {
      m.turns.inc();
      m.v2v.observe(t.latency.voiceToVoice / 1000);
      turnSpans(span, t.index, t.timestamps);
    });
    session.on('interrupted', () => m.bargeIns.inc());
    session.on('error', (e) => m.errors.inc({ provider: e.provider ?? 'unknown', code: e.code }));
    onSession?.(session);
    try {
      await session.run({ input, output });
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    } finally {
      span.end();
      sessions.delete(session);
      m.active.set(sessions.size);
    }
  };

  /** One span per turn, with STT, LLM and TTS child spans from the turn's timestamps. */
  const turnSpans = (parent: Span, index: number, t: import('../session/metrics').TurnTimestamps) => {
    const origin = performance.timeOrigin;
    const at = (ms: number) => new Date(origin + ms);
    const ctx = trace.setSpan(otelContext.active(), parent);
    const turn = tracer.startSpan('voxline.turn', { startTime: at(t.endOfSpeech), attributes: { 'voxline.turn': index } }, ctx);
    const tctx = trace.setSpan(ctx, turn);
    tracer.startSpan('stt', { startTime: at(t.endOfSpeech) }, tctx).end(at(t.sttFinal));
    if (t.llmFirstToken !== undefined) tracer.startSpan('llm', { startTime: at(t.llmRequest) }, tctx).end(at(t.llmFirstToken));
    if (t.firstTextToTts !== undefined && t.ttsFirstAudio !== undefined) tracer.startSpan('tts', { startTime: at(t.firstTextToTts) }, tctx).end(at(t.ttsFirstAudio));
    turn.end(at(t.firstAudioOut ?? t.sttFinal));
  };

  const twilio = twilioHandler({
    authToken: options.twilio?.authToken,
    publicUrl: options.twilio?.publicUrl ? `${options.twilio.publicUrl.replace(/^http/, 'ws')}/twilio` : undefined,
    onCall: async (call: TwilioCall, request) => {
      const start = await call.started;
      await runCall({ channel: 'twilio', request, callSid: start.callSid, parameters: start.customParameters }, call.input, call.output);
    },
  });
  const browser = browserHandler({
    allowedOrigins: options.browser?.allowedOrigins,
    authorize: options.browser?.authorize,
    onCall: async (call: BrowserCall, request) => {
      await call.started;
      await runCall({ channel: 'browser', request }, call.input, call.output, (s) => call.attach(s));
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (path === '/readyz') {
      const ok = canAccept();
      return void res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready' : draining ? 'draining' : 'at capacity');
    }
    if (path === '/metrics') {
      void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
      return;
    }
    if (path === '/voxline-client.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BROWSER_CLIENT_JS);
    if (path === '/twiml') {
      const base = options.twilio?.publicUrl ?? `https://${req.headers.host}`;
      return void res.writeHead(200, { 'content-type': 'text/xml' }).end(twiml(`${base.replace(/^http/, 'ws')}/twilio`));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!canAccept()) {
      m.refused.inc();
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    if (path === '/twilio') return void twilio.handleUpgrade(req, socket, head);
    if (path === '/browser') return void browser.handleUpgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  let drainPromise: Promise<void> | undefined;
  const drain = () => {
    drainPromise ??= (async () => {
      draining = true;
      server.close();
      const deadline = performance.now() + (options.drainTimeoutMs ?? 30_000);
      while (sessions.size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Past the deadline: end what is left, letting the audio already queued play out.
      await Promise.all([...sessions].map((s) => s.close({ reason: 'server draining', drain: true })));
      server.closeAllConnections();
    })();
    return drainPromise;
  };
  if (options.handleSignals) process.once('SIGTERM', () => void drain().then(() => process.exit(0)));

  return {
    server,
    registry,
    get activeCalls() {
      return sessions.size;
    },
    get draining() {
      return draining;
    },
    listen: (port, host = '0.0.0.0') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as { port: number }).port));
      }),
    drain,
  };
}
