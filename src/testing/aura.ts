import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { encodeMulaw } from '../audio/mulaw';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { checkListenRequest } from './deepgram';
import { Emulator, type EmulatorOptions, parseJson } from './emulator';
import { TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link AuraEmulator}. */
export interface AuraEmulatorOptions extends EmulatorOptions, TtsTiming {
  /** Speech synthesiser (default: eSpeak NG when installed, else a voice-like tone). */
  synthesizer?: Synthesizer;
}

const RATES = new Set([8000, 16000, 24000, 32000, 48000]);

/**
 * A local emulator of Deepgram Aura's streaming TTS WebSocket (`/v1/speak`, PROTOCOLS.md 5.2):
 * `Speak` buffers text, `Flush` speaks it (binary audio, then `Flushed`), `Clear` drops it
 * (`Cleared`), `Close` flushes and closes 1000; `Metadata` on connect, a `Warning` past 20
 * flushes a minute.
 */
export class AuraEmulator extends Emulator {
  private synth?: Synthesizer;

  constructor(readonly opts: AuraEmulatorOptions = {}) {
    super(opts);
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
    const encoding = url.searchParams.get('encoding') ?? 'linear16';
    const rate = Number(url.searchParams.get('sample_rate') ?? 24000);
    if (!['linear16', 'mulaw'].includes(encoding) || !RATES.has(rate) || (encoding === 'mulaw' && rate !== 8000 && rate !== 16000)) {
      ws.send(JSON.stringify({ type: 'Warning', description: `Unsupported encoding/sample_rate ${encoding}/${rate}`, code: 'INVALID_QUERY' }));
      return void ws.close(1008, 'invalid query');
    }
    ws.send(JSON.stringify({ type: 'Metadata', request_id: randomUUID(), model_name: url.searchParams.get('model') ?? 'aura-2-thalia-en', model_version: '2025-01-01', model_uuid: randomUUID() }));
    let buffer = '';
    let sequence = 0;
    const flushes: number[] = [];
    let closing = false;
    let sent = 0;
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    this.faults.stall = undefined;
    const streamer = new TtsStreamer(this.synth!, rate, this.opts, (piece) => {
      if (ws.readyState !== ws.OPEN || (fault.stall && sent >= fault.stall.afterMessages)) return;
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
        if (ws.readyState === ws.OPEN && !cleared.has(id)) ws.send(JSON.stringify({ type: 'Flushed', sequence_id: id }));
      });
    };
    const cleared = new Set<number>();
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || typeof msg.type !== 'string' || closing) {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'Warning', description: 'Could not parse the message', code: 'INVALID_MESSAGE' }));
        return;
      }
      switch (msg.type) {
        case 'Speak':
          if (typeof msg.text !== 'string') return void ws.send(JSON.stringify({ type: 'Warning', description: 'Speak needs text', code: 'INVALID_MESSAGE' }));
          buffer += msg.text;
          return;
        case 'Flush': {
          const now = this.clock.now();
          flushes.push(now);
          while (flushes.length && flushes[0]! < now - 60_000) flushes.shift();
          if (flushes.length > 20) ws.send(JSON.stringify({ type: 'Warning', description: 'Too many flushes: at most 20 per 60 seconds', code: 'FLUSH_LIMIT' }));
          return flush();
        }
        case 'Clear':
          for (let i = 0; i < sequence; i++) cleared.add(i);
          buffer = '';
          streamer.clear();
          return void ws.send(JSON.stringify({ type: 'Cleared', sequence_id: sequence }));
        case 'Close':
          closing = true;
          if (buffer.trim()) flush();
          return void flushChain.then(() => ws.close(1000));
        default:
          ws.send(JSON.stringify({ type: 'Warning', description: `Unknown message type ${msg.type}`, code: 'INVALID_MESSAGE' }));
      }
    });
    ws.on('close', () => streamer.dispose());
  }
}
