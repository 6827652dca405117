import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { encodeMulaw } from '../audio/mulaw';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { checkListenRequest } from './deepgram';
import { Emulator, type EmulatorOptions, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link AuraEmulator}. */
export interface AuraEmulatorOptions extends EmulatorOptions, TtsTiming {
  /** Speech synthesiser (default: eSpeak NG when installed, else a voice-like tone). */
  synthesizer?: Synthesizer | undefined;
}

const RATES = new Set([8000, 16000, 24000, 32000, 48000]);

/** The emulator's `Metadata` message (the official SDK's `SpeakV1Metadata`). */
export interface AuraEmulatedMetadata {
  /** The message's kind. */
  type: 'Metadata';
  /** The request's id. */
  request_id: string;
  /** The model's name. */
  model_name: string;
  /** The model's version. */
  model_version: string;
  /** The model's id. */
  model_uuid: string;
}

/** `Flushed` or `Cleared` (the official SDK's `SpeakV1Flushed` / `SpeakV1Cleared`). */
export interface AuraEmulatedAck {
  /** Which message it acknowledges (`Flush` or `Clear`). */
  type: 'Flushed' | 'Cleared';
  /** The number of the flush (or clear) acknowledged, counted from 0. */
  sequence_id: number;
}

/** A `Warning` (the official SDK's `SpeakV1Warning`). */
export interface AuraEmulatedWarning {
  /** The message's kind. */
  type: 'Warning';
  /** What is wrong. */
  description: string;
  /** Machine-readable code. */
  code: string;
}

/** The option names of {@link AuraEmulator}, for {@link checkEmulatorOptions}. */
const AURA_EMULATOR_OPTIONS: Readonly<Record<keyof AuraEmulatorOptions, true>> = {
  synthesizer: true, timeToFirstAudioMs: true, realtimeFactor: true, chunkMs: true, apiKey: true,
  port: true, maxPayload: true, handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of Deepgram Aura's streaming TTS WebSocket (`/v1/speak`):
 * `Speak` buffers text and speaks it up to its last sentence end, `Flush` speaks the rest (binary
 * audio, then `Flushed` with the flush's `sequence_id`, counted from 0), `Clear` drops it
 * (`Cleared`), `Close` closes 1000 at once; `Metadata` on connect; past 20 flushes a minute a
 * `Warning`, and the flush is ignored.
 */
export class AuraEmulator extends Emulator {
  private synth?: Synthesizer;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: AuraEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('AuraEmulator', opts, AURA_EMULATOR_OPTIONS);
    this.synth = opts.synthesizer;
    this.guard = (req, url) => checkListenRequest(req, url, opts.apiKey, ['token', 'bearer']);
    this.ws('/v1/speak', (ws, _req, url) => this.serve(ws, url));
  }

  override async start(): Promise<string> {
    this.synth ??= await defaultSynthesizer();
    return super.start();
  }

  /** `ws://127.0.0.1:PORT/v1/speak`. */
  get speakUrl(): string {
    return `${this.wsUrl}/v1/speak`;
  }

  private serve(ws: WebSocket, url: URL): void {
    const warn = (description: string, code: string) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'Warning', description, code } satisfies AuraEmulatedWarning));
    };
    const encoding = url.searchParams.get('encoding') ?? 'linear16';
    const rate = Number(url.searchParams.get('sample_rate') ?? 24000);
    if (!['linear16', 'mulaw'].includes(encoding) || !RATES.has(rate) || (encoding === 'mulaw' && rate !== 8000 && rate !== 16000)) {
      warn(`Unsupported encoding/sample_rate ${encoding}/${rate}`, 'INVALID_QUERY');
      return void ws.close(1008, 'invalid query');
    }
    ws.send(JSON.stringify({ type: 'Metadata', request_id: randomUUID(), model_name: url.searchParams.get('model') ?? 'aura-2-thalia-en', model_version: '2025-01-01', model_uuid: randomUUID() } satisfies AuraEmulatedMetadata));
    let buffer = '';
    let sequence = 0;
    const flushes: number[] = [];
    let closing = false;
    let sent = 0;
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    // A stalled socket sends nothing more: no audio, no Flushed, no Cleared.
    const stalled = () => fault.stall !== undefined && sent >= fault.stall.afterMessages;
    const streamer = new TtsStreamer(this.synth!, rate, this.opts, (piece) => {
      if (ws.readyState !== ws.OPEN || stalled()) return;
      const cut = fault.closeMidStream;
      if (cut && sent >= (cut.afterMessages ?? 1)) {
        fault.closeMidStream = undefined;
        streamer.dispose();
        return void ws.close(cut.code ?? 1011, cut.reason ?? 'emulated drop');
      }
      sent++;
      ws.send(encoding === 'mulaw' ? Buffer.from(encodeMulaw(piece.samples)) : Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength));
    });
    // Each flush is answered with Flushed once its audio has gone out.
    let flushChain: Promise<void> = Promise.resolve();
    const flush = () => {
      const id = sequence++;
      streamer.speak(buffer);
      buffer = '';
      flushChain = flushChain.then(() => streamer.whenIdle()).then(() => {
        if (ws.readyState === ws.OPEN && !cleared.has(id) && !stalled()) ws.send(JSON.stringify({ type: 'Flushed', sequence_id: id } satisfies AuraEmulatedAck));
      });
    };
    const cleared = new Set<number>();
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || typeof msg.type !== 'string' || closing) return warn('Could not parse the message', 'INVALID_MESSAGE');
      switch (msg.type) {
        case 'Speak': {
          if (typeof msg.text !== 'string') return warn('Speak needs text', 'INVALID_MESSAGE');
          buffer += msg.text;
          // Whole sentences are spoken as they arrive; Flush speaks the rest.
          const whole = /^[\s\S]*[.!?]["')\]]*\s/.exec(buffer)?.[0];
          if (whole) {
            streamer.speak(whole);
            buffer = buffer.slice(whole.length);
          }
          return;
        }
        case 'Flush': {
          const now = this.clock.now();
          while (flushes.length && flushes[0]! < now - 60_000) flushes.shift();
          if (flushes.length >= 20) return warn('Too many Flush messages: at most 20 per 60 seconds; this one is ignored', 'EXCESSIVE_FLUSH');
          flushes.push(now);
          return flush();
        }
        case 'Clear':
          for (let i = 0; i < sequence; i++) cleared.add(i);
          buffer = '';
          streamer.clear();
          if (stalled()) return;
          return void ws.send(JSON.stringify({ type: 'Cleared', sequence_id: sequence } satisfies AuraEmulatedAck));
        case 'Close':
          // Closes at once, without flushing (Deepgram doc tts-ws-close).
          closing = true;
          return void ws.close(1000);
        default:
          warn(`Unknown message type ${msg.type}`, 'INVALID_MESSAGE');
      }
    });
    ws.on('close', () => streamer.dispose());
  }
}
