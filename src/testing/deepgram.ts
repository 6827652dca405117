import type { ClockTimer } from '../streams/clock';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { metadataMessage, resultsMessage, resultsMetadata, schemaErrorMessage, speechStartedMessage, utteranceEndMessage } from './deepgram-messages';
import { Emulator, type EmulatorOptions, type Guard, credentialOf, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { SttEngine, type SttEngineEvent, type SttScript, pcm16Reader, scriptOf } from './stt-engine';

/** Options of {@link DeepgramEmulator}. */
export interface DeepgramEmulatorOptions extends EmulatorOptions {
  /** The utterances the caller will say, in order (or a custom script). */
  script?: string[] | SttScript | undefined;
  /** Silence after speech before the final (`speech_final`) result, ms of audio. Default 140. */
  finalDelayMs?: number | undefined;
  /** Close the socket with 1011 NET-0001 after this long without any message. Default 10 000 ms. */
  idleTimeoutMs?: number | undefined;
  /** How long after the onset of speech `SpeechStarted` is sent, ms of audio (default 40). */
  speechStartedDelayMs?: number | undefined;
  /**
   * Time the service takes after `CloseStream` to process the remaining audio before it sends
   * the last `Results`, the `Metadata` and closes (default 0).
   */
  closeStreamDelayMs?: number | undefined;
}

/** How one connection ended, for tests of the clients' close handshake. */
export interface ListenClose {
  /** The close code. */
  code: number;
  /** Who started the close: the service (after `CloseStream`, or a timeout) or the client. */
  by: 'server' | 'client';
  /** Whether the `Metadata` summary was sent before the close. */
  metadataSent: boolean;
}

const ENCODINGS = new Set(['linear16', 'linear32', 'flac', 'alaw', 'mulaw', 'amr-nb', 'amr-wb', 'opus', 'ogg-opus', 'speex', 'g729']);

/** The option names of {@link DeepgramEmulator}, for {@link checkEmulatorOptions}. */
const DEEPGRAM_EMULATOR_OPTIONS: Readonly<Record<keyof DeepgramEmulatorOptions, true>> = {
  script: true, finalDelayMs: true, idleTimeoutMs: true, speechStartedDelayMs: true,
  closeStreamDelayMs: true, apiKey: true, port: true, maxPayload: true, handshakeDelayMs: true,
  clock: true, tls: true,
};

/**
 * A local emulator of Deepgram's live transcription WebSocket (`/v1/listen`), following
 * `Authorization: Token` or the `token` subprotocol, query options,
 * binary audio in; `Results`, `SpeechStarted`, `UtteranceEnd` and `Metadata` out; `KeepAlive`,
 * `Finalize` and `CloseStream`; the idle timeout.
 */
export class DeepgramEmulator extends Emulator {
  /** The script the recogniser reads utterances from. */
  readonly script: SttScript;
  /** How each finished connection ended, in order. */
  readonly closes: ListenClose[] = [];

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: DeepgramEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('DeepgramEmulator', opts, DEEPGRAM_EMULATOR_OPTIONS);
    this.script = Array.isArray(opts.script) ? scriptOf(opts.script) : opts.script ?? scriptOf(['hello']);
    this.guard = (req, url) => checkListenRequest(req, url, opts.apiKey, ['token', 'bearer']);
    this.ws('/v1/listen', (ws, req, url) => this.serveListen(ws, req, url));
  }

  /** The URL to give a Deepgram client as its base (`ws://127.0.0.1:PORT/v1/listen`). */
  get listenUrl(): string {
    return `${this.wsUrl}/v1/listen`;
  }

  /** Serves one live-transcription connection. Used by the gateway emulator too. */
  serveListen(ws: WebSocket, _req: IncomingMessage, url: URL): void {
    const q = url.searchParams;
    const encoding = q.get('encoding') ?? 'linear16';
    const sampleRate = Number(q.get('sample_rate') ?? 16000);
    const channels = Number(q.get('channels') ?? 1);
    const interim = q.get('interim_results') === 'true';
    const requestId = randomUUID();
    const modelUuid = randomUUID();
    let emit: (events: SttEngineEvent[]) => void = () => {};
    const engine = new SttEngine(this.script, {
      schedule: (ms, fire) => {
        const t = this.later(ms, () => emit(fire()));
        return () => this.cancel(t);
      },
      finalDelayMs: this.opts.finalDelayMs ?? 140,
      interimResults: interim,
      endpointing: q.get('endpointing') !== 'false',
      utteranceEndMs: interim && q.get('utterance_end_ms') ? Number(q.get('utterance_end_ms')) : undefined,
      vadEvents: q.get('vad_events') === 'true',
      speechStartedDelayMs: this.opts.speechStartedDelayMs,
    });
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    let sent = 0;
    let closed = false;
    let metadataSent = false;
    let closing = false;
    const pcm16 = pcm16Reader();
    let idle: ClockTimer | undefined;
    const resetIdle = () => {
      this.cancel(idle);
      idle = this.later(this.opts.idleTimeoutMs ?? 10_000, () =>
        close(1011, 'NET-0001: Deepgram did not receive audio data or a text message within the timeout window.'),
      );
    };
    const close = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      this.cancel(idle);
      ws.close(code, reason);
    };
    const send = (msg: object) => {
      if (closed || ws.readyState !== ws.OPEN) return;
      if (fault.stall && sent >= fault.stall.afterMessages) return;
      if (this.faults.malformed) {
        this.faults.malformed = false;
        ws.send('{"type":"Results","channel_index":[0,1],"channel":');
      }
      sent++;
      ws.send(JSON.stringify(msg));
    };
    const metadata = resultsMetadata(requestId, modelUuid, q.get('model') ?? 'general');
    emit = (events: SttEngineEvent[]) => {
      for (const ev of events) {
        if (ev.type === 'speech_started') send(speechStartedMessage(ev.timestamp));
        else if (ev.type === 'utterance_end') send(utteranceEndMessage(ev.lastWordEnd));
        else send(resultsMessage(ev, metadata));
      }
    };
    resetIdle();
    ws.on('message', (data, isBinary) => {
      if (closed) return;
      resetIdle();
      if (isBinary) {
        const buf = data as Buffer;
        this.record.audioBytes += buf.length;
        this.record.audioMessages++;
        if (buf.length === 0) return close(1011, 'NET-0000: empty audio frame');
        let samples: Int16Array;
        if (encoding === 'mulaw') samples = decodeMulaw(buf);
        else if (encoding === 'linear16') samples = pcm16(buf);
        else return close(1008, 'DATA-0000: the emulator decodes only linear16 and mulaw audio');
        if (channels > 1) samples = samples.filter((_, i) => i % channels === 0);
        emit(engine.push(samples, sampleRate));
        const cut = fault.closeMidStream;
        if (cut && engine.receivedMs >= (cut.afterMs ?? 0)) {
          fault.closeMidStream = undefined;
          return close(cut.code ?? 1011, cut.reason ?? 'NET-0000: emulated connection drop');
        }
        return;
      }
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || typeof msg.type !== 'string') {
        send(schemaErrorMessage('Failed to parse the client text message.', String(data).slice(0, 200)));
        return;
      }
      if (msg.type === 'KeepAlive') return;
      if (msg.type === 'Finalize') return emit(engine.finalize());
      if (msg.type === 'CloseStream') {
        if (closing) return;
        closing = true;
        // The remaining audio is processed, then the last Results, the Metadata summary, a normal close.
        const finish = () => {
          emit(engine.finalize());
          send(metadataMessage(requestId, engine.receivedMs / 1000, channels));
          metadataSent = !closed;
          close(1000, '');
        };
        const delay = this.opts.closeStreamDelayMs ?? 0;
        if (delay > 0) this.later(delay, finish);
        else finish();
        return;
      }
      if (msg.type === 'Configure') return;
      send(schemaErrorMessage(`Unknown message type ${msg.type}`, String(data).slice(0, 200)));
    });
    ws.on('close', (code) => {
      this.closes.push({ code, by: closed ? 'server' : 'client', metadataSent });
      closed = true;
      this.cancel(idle);
    });
  }
}

/**
 * Validates a live-transcription upgrade the way Deepgram does: 401 for a missing or wrong key,
 * 400 for bad parameters, with `dg-request-id` and `dg-error` headers.
 */
export function checkListenRequest(req: IncomingMessage, url: URL, apiKey: string | undefined, schemes: string[]): ReturnType<Guard> {
  const headers = { 'dg-request-id': randomUUID() } as Record<string, string>;
  const cred = credentialOf(req, url);
  if (!cred || !schemes.includes(cred.scheme) || !cred.key || (apiKey !== undefined && cred.key !== apiKey)) {
    headers['dg-error'] = 'Invalid credentials.';
    return { status: 401, headers, body: JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.' }) };
  }
  const q = url.searchParams;
  const encoding = q.get('encoding');
  const problem =
    encoding && !ENCODINGS.has(encoding) ? `Invalid encoding '${encoding}'`
    : encoding && !q.get('sample_rate') ? 'sample_rate is required with encoding'
    : q.get('sample_rate') && !(Number(q.get('sample_rate')) > 0) ? 'Invalid sample_rate'
    : q.get('utterance_end_ms') && q.get('interim_results') !== 'true' ? 'utterance_end_ms requires interim_results=true'
    : undefined;
  if (problem) {
    headers['dg-error'] = problem;
    return { status: 400, headers, body: JSON.stringify({ err_code: 'Bad Request', err_msg: problem }) };
  }
  return undefined;
}
