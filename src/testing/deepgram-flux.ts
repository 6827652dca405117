import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { EnergyVad } from '../audio/vad';
import {
  type FluxThresholds,
  type FluxWord,
  fluxConfigureFailureMessage,
  fluxConfigureSuccessMessage,
  fluxConnectedMessage,
  fluxErrorMessage,
  fluxTurnInfoMessage,
} from './deepgram-messages';
import { Emulator, type EmulatorOptions, credentialOf, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { type SttScript, pcm16Reader, scriptOf } from './stt-engine';

/** Options of {@link DeepgramFluxEmulator}. */
export interface DeepgramFluxEmulatorOptions extends EmulatorOptions {
  /** What the caller says, one entry per stretch of speech, in order (or a custom script). */
  script?: string[] | SttScript | undefined;
  /**
   * Silence after speech, in ms of audio, at which the emulated end-of-turn confidence reaches
   * 1.0; it rises linearly from 0 (default 500). With the default `eot_threshold` of 0.7 a turn
   * ends 350 ms after the last word; an `eager_eot_threshold` of 0.4 fires at 200 ms.
   */
  confidenceRampMs?: number | undefined;
}

type TurnState = 'initial' | 'ongoing' | 'awaiting';

/** The option names of {@link DeepgramFluxEmulator}, for {@link checkEmulatorOptions}. */
const DEEPGRAM_FLUX_EMULATOR_OPTIONS: Readonly<Record<keyof DeepgramFluxEmulatorOptions, true>> = {
  script: true, confidenceRampMs: true, apiKey: true, port: true, maxPayload: true,
  handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of Deepgram Flux (`/v2/listen`), following Flux's documented state machine
 * (developers.deepgram.com/docs/flux/state): `Connected`, then per turn `StartOfTurn`, `Update`
 * about every 250 ms of audio, `EagerEndOfTurn` (only with `eager_eot_threshold`), `TurnResumed`
 * (only after an eager one), `EndOfTurn` whose transcript equals the preceding eager one, with its
 * `trigger` (`model`, `manual` after `ForceEndTurn`, `timeout` after `eot_timeout_ms`);
 * `Configure` answered by `ConfigureSuccess` or `ConfigureFailure`; `CloseStream`, after which it
 * sends an `Update` for a turn still open (never its `EndOfTurn`) and closes without a status code
 * (developers.deepgram.com/docs/flux/close-stream). A `closeMidStream` fault with `code: 1005`
 * closes that way too, before any `CloseStream`. It finds speech
 * by level in the audio it receives and reports the script's text; the end-of-turn confidence is
 * a ramp over the silence after speech. Everything is timed by the audio received.
 */
export class DeepgramFluxEmulator extends Emulator {
  /** The script the recogniser reads from. */
  readonly script: SttScript;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: DeepgramFluxEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('DeepgramFluxEmulator', opts, DEEPGRAM_FLUX_EMULATOR_OPTIONS);
    this.script = Array.isArray(opts.script) ? scriptOf(opts.script) : opts.script ?? scriptOf(['hello']);
    this.guard = (req, url) => checkFluxRequest(req, url, opts.apiKey);
    this.ws('/v2/listen', (ws, _req, url) => this.serveFlux(ws, url));
  }

  /** `http://127.0.0.1:PORT/v2`: the `baseURL` to give `DeepgramFluxStt`. */
  override get baseURL(): string {
    return `${this.httpUrl}/v2`;
  }

  private serveFlux(ws: WebSocket, url: URL): void {
    const q = url.searchParams;
    const sampleRate = Number(q.get('sample_rate') ?? 16000);
    const requestId = randomUUID();
    const thresholds: FluxThresholds = { eot_threshold: Number(q.get('eot_threshold') ?? 0.7), eot_timeout_ms: Number(q.get('eot_timeout_ms') ?? 5000) };
    if (q.get('eager_eot_threshold')) thresholds.eager_eot_threshold = Number(q.get('eager_eot_threshold'));
    let keyterms = q.getAll('keyterm');
    const ramp = this.opts.confidenceRampMs ?? 500;
    const vad = new EnergyVad({ minSpeechMs: 40, minSilenceMs: 40 });
    let seq = 0;
    let audioMs = 0;
    let state: TurnState = 'initial';
    let turnIndex = 0;
    let turnStartMs = 0;
    let words: FluxWord[] = []; // revealed
    let segment: string[] = []; // the current stretch of speech's words, not yet revealed
    let segmentStartMs = 0;
    let silenceFromMs = -1; // -1 while speaking
    let lastUpdateMs = 0;
    const pcm16 = pcm16Reader();
    const cut = this.faults.closeMidStream;
    this.faults.closeMidStream = undefined;
    const send = (msg: object) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const confidence = () => (silenceFromMs < 0 ? 0 : Math.min(0.99, (audioMs - silenceFromMs) / ramp));
    const turnInfo = (event: Parameters<typeof fluxTurnInfoMessage>[2], trigger?: 'model' | 'manual' | 'timeout') =>
      send(fluxTurnInfoMessage(requestId, seq++, event, { index: turnIndex, start: round3(turnStartMs / 1000), end: round3(audioMs / 1000), words, confidence: round3(confidence()), trigger }));
    let segmentWordsBase = 0; // words of the turn before the current stretch
    // Words of the current stretch are revealed about every 300 ms of speech; all at its end.
    const reveal = (all: boolean) => {
      const due = all ? segment.length : Math.min(segment.length - 1, Math.floor((audioMs - segmentStartMs) / 300) + 1);
      const per = all ? Math.max(1, (silenceFromMs >= 0 ? silenceFromMs : audioMs) - segmentStartMs) / Math.max(1, segment.length) : 300;
      for (let i = words.length - segmentWordsBase; i < due; i++) {
        words.push({ word: segment[i]!, confidence: 0.97, start: round3((segmentStartMs + i * per) / 1000), end: round3((segmentStartMs + (i + 1) * per) / 1000) });
      }
    };
    const startSegment = (atMs: number) => {
      segment = this.script.next().split(/\s+/).filter(Boolean);
      segmentStartMs = atMs;
      segmentWordsBase = words.length;
      silenceFromMs = -1;
    };
    const endTurn = (trigger: 'model' | 'manual' | 'timeout') => {
      reveal(true);
      turnInfo('EndOfTurn', trigger);
      state = 'initial';
      turnIndex++;
      words = [];
      segment = [];
      silenceFromMs = -1;
    };

    const onAudio = (samples: Int16Array) => {
      const before = audioMs;
      audioMs += (samples.length * 1000) / sampleRate;
      for (const ev of vad.process({ samples, sampleRate })) {
        if (ev.type === 'speech_start') {
          if (state === 'initial') {
            turnStartMs = ev.timeMs;
            startSegment(ev.timeMs);
            state = 'ongoing';
            reveal(false);
            turnInfo('StartOfTurn');
            lastUpdateMs = audioMs;
          } else {
            if (silenceFromMs >= 0) {
              reveal(true);
              startSegment(ev.timeMs);
            }
            if (state === 'awaiting') {
              // The transcript changes after an EagerEndOfTurn: TurnResumed first.
              state = 'ongoing';
              turnInfo('TurnResumed');
              lastUpdateMs = audioMs;
            }
          }
        } else if (state !== 'initial') {
          silenceFromMs = ev.timeMs;
          reveal(true);
        }
      }
      if (state === 'initial') return;
      if (silenceFromMs < 0) reveal(false);
      const eot = thresholds.eot_threshold ?? 0.7;
      const eager = thresholds.eager_eot_threshold;
      if (silenceFromMs >= 0) {
        const c = confidence();
        if (state === 'ongoing' && eager !== undefined && c >= eager && words.length) {
          state = 'awaiting';
          turnInfo('EagerEndOfTurn');
          lastUpdateMs = audioMs;
        }
        if (eot < 1 && c >= eot) return endTurn('model');
        if (audioMs - silenceFromMs >= (thresholds.eot_timeout_ms ?? 5000)) return endTurn('timeout');
      }
      if (audioMs - lastUpdateMs >= 250 && before < audioMs) {
        lastUpdateMs = audioMs;
        turnInfo('Update');
      }
    };

    send(fluxConnectedMessage(requestId, seq++));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.record.audioBytes += (data as Buffer).length;
        this.record.audioMessages++;
        onAudio(pcm16(data as Buffer));
        if (cut && audioMs >= (cut.afterMs ?? 0)) {
          // 1005 stands for a close frame without a status code (it cannot be sent as a code).
          if (cut.code === 1005) ws.close();
          else ws.close(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
        }
        return;
      }
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      switch (msg?.type) {
        case 'CloseStream':
          // As documented (developers.deepgram.com/docs/flux/close-stream): Flux decodes the audio
          // received and sends its Update, but does not end an open turn (no EndOfTurn), then
          // closes without a status code (the client sees 1005).
          if (state !== 'initial') {
            reveal(true);
            turnInfo('Update');
          }
          return void ws.close();
        case 'ForceEndTurn':
          if (state !== 'initial') endTurn('manual');
          return;
        case 'Configure': {
          const t = (msg.thresholds ?? {}) as FluxThresholds;
          const next = { ...thresholds, ...t };
          const ok =
            inRange(next.eot_threshold, 0.5, 1) && inRange(next.eager_eot_threshold, 0.3, 0.9) && inRange(next.eot_timeout_ms, 500, 60_000) &&
            (next.eager_eot_threshold === undefined || next.eager_eot_threshold <= (next.eot_threshold ?? 0.7)) &&
            (msg.keyterms === undefined || (Array.isArray(msg.keyterms) && msg.keyterms.every((k) => typeof k === 'string')));
          if (!ok) return send(fluxConfigureFailureMessage(requestId, seq++));
          Object.assign(thresholds, next);
          if (Array.isArray(msg.keyterms)) keyterms = msg.keyterms as string[];
          return send(fluxConfigureSuccessMessage(requestId, seq++, { ...thresholds }, keyterms));
        }
        default:
          send(fluxErrorMessage(seq++, 'UNPARSABLE_CLIENT_MESSAGE', `Unknown or malformed message: ${String(data).slice(0, 100)}`));
          return void ws.close(1008, 'UNPARSABLE_CLIENT_MESSAGE');
      }
    });
  }
}

function inRange(v: number | undefined, lo: number, hi: number): boolean {
  return v === undefined || (typeof v === 'number' && v >= lo && v <= hi);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const FLUX_ENCODINGS = new Set(['linear16', 'linear32', 'mulaw', 'alaw', 'opus', 'ogg-opus']);

/** Validates a Flux upgrade: 401 for a missing or wrong key, 400 for bad parameters. */
function checkFluxRequest(req: IncomingMessage, url: URL, apiKey: string | undefined) {
  const headers: Record<string, string> = { 'dg-request-id': randomUUID() };
  const cred = credentialOf(req, url);
  if (!cred || !['token', 'bearer'].includes(cred.scheme) || !cred.key || (apiKey !== undefined && cred.key !== apiKey)) {
    headers['dg-error'] = 'Invalid credentials.';
    return { status: 401, headers, body: JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.' }) };
  }
  const q = url.searchParams;
  const num = (k: string) => (q.get(k) === null ? undefined : Number(q.get(k)));
  const problem =
    !q.get('model')?.startsWith('flux-') ? 'model must be a Flux model (flux-general-en, flux-general-multi)'
    : q.get('encoding') && !FLUX_ENCODINGS.has(q.get('encoding')!) ? `Invalid encoding '${q.get('encoding')}'`
    : q.get('encoding') && !(Number(q.get('sample_rate')) > 0) ? 'sample_rate is required with encoding'
    : !inRange(num('eot_threshold'), 0.5, 1) ? 'eot_threshold must be between 0.5 and 1.0'
    : !inRange(num('eager_eot_threshold'), 0.3, 0.9) ? 'eager_eot_threshold must be between 0.3 and 0.9'
    : !inRange(num('eot_timeout_ms'), 500, 60_000) ? 'eot_timeout_ms must be between 500 and 60000'
    : undefined;
  if (problem) {
    headers['dg-error'] = problem;
    return { status: 400, headers, body: JSON.stringify({ err_code: 'Bad Request', err_msg: problem }) };
  }
  return undefined;
}
