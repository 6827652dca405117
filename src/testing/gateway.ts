import type { WebSocket } from 'ws';
import { credentialOf, Emulator, parseJson } from './emulator';
import { DeepgramEmulator, checkListenRequest, type DeepgramEmulatorOptions } from './deepgram';
import { OpenAiEmulator, checkBearer, type OpenAiEmulatorOptions } from './openai';
import { type Synthesizer, defaultSynthesizer } from '../tts/speech';
import { SttEngine, type SttEngineEvent, pcm16Reader } from './stt-engine';
import { TtsStreamer, type TtsTiming } from './tts-engine';

/** Options of {@link GatewayEmulator}. */
export interface GatewayEmulatorOptions extends DeepgramEmulatorOptions, Omit<OpenAiEmulatorOptions, keyof DeepgramEmulatorOptions>, TtsTiming {
  /** Speech synthesiser for TTS (default: eSpeak NG when installed, else a tone). */
  synthesizer?: Synthesizer | undefined;
}

/**
 * A local emulator of the unified gateway, all behind one
 * `Authorization: Bearer` key: OpenAI-compatible chat at `/v1/chat/completions`, streaming STT at
 * `/v1/audio/transcriptions/stream` (PCM16 16 kHz in, `{transcript, is_final}` JSON out) and at
 * the Deepgram-shaped `/v1/realtime`, streaming TTS at `/v1/audio/speech/stream` (`{"text"}` in,
 * PCM16 24 kHz binary out).
 */
export class GatewayEmulator extends Emulator {
  /** The chat engine (its responder can be replaced). */
  readonly chat: OpenAiEmulator;
  private readonly listen: DeepgramEmulator;
  private synth?: Synthesizer;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: GatewayEmulatorOptions = {}) {
    super(opts);
    this.synth = opts.synthesizer;
    this.chat = new OpenAiEmulator(opts);
    this.listen = new DeepgramEmulator(opts);
    // One record and one fault plan for every endpoint.
    this.chat.record = this.listen.record = this.record;
    this.chat.faults = this.listen.faults = this.faults;
    this.guard = (req, url) => (url.pathname === '/v1/realtime' ? checkListenRequest(req, url, opts.apiKey, ['bearer']) : checkBearer(withQueryKey(req, url), opts.apiKey));
    this.http('/v1/chat/completions', (req, res, _url, body) => this.chat.serveChat(req, res, body));
    this.ws('/v1/realtime', (ws, req, url) => this.listen.serveListen(ws, req, url));
    this.ws('/v1/audio/transcriptions/stream', (ws, _req, url) => this.serveStt(ws, url));
    this.ws('/v1/audio/speech/stream', (ws, _req, url) => this.serveTts(ws, url));
  }

  override async start(): Promise<string> {
    this.synth ??= await defaultSynthesizer();
    return super.start();
  }

  private serveStt(ws: WebSocket, url: URL): void {
    if (!url.searchParams.get('model')) return void ws.close(1008, 'model is required');
    let emit: (events: SttEngineEvent[]) => void = () => {};
    const engine = new SttEngine(this.listen.script, {
      finalDelayMs: this.opts.finalDelayMs ?? 140, interimResults: true, endpointing: true, vadEvents: true,
      schedule: (ms, fire) => {
        const t = this.later(ms, () => emit(fire()));
        return () => this.cancel(t);
      },
    });
    const send = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
    emit = (events: SttEngineEvent[]) => {
      for (const ev of events) {
        if (ev.type === 'speech_started') send({ type: 'speech_started', timestamp: ev.timestamp });
        else if (ev.type === 'result') send({ type: 'transcript', transcript: ev.text, is_final: ev.isFinal, speech_final: ev.speechFinal, start: ev.start, duration: ev.duration, words: ev.words.map(({ word, start, end }) => ({ word, start, end })) });
      }
    };
    const cut = this.faults.closeMidStream;
    this.faults.closeMidStream = undefined;
    const pcm16 = pcm16Reader();
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.record.audioBytes += (data as Buffer).length;
        this.record.audioMessages++;
        emit(engine.push(pcm16(data as Buffer), 16000));
        if (cut && engine.receivedMs >= (cut.afterMs ?? 0)) return void ws.close(cut.code ?? 1011, cut.reason ?? 'emulated drop');
        return;
      }
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      // The contract knows one text frame, CloseStream (PROTOCOLS.md section 8); KeepAlive is not part of it.
      if (msg?.type === 'CloseStream') {
        emit(engine.finalize());
        ws.close(1000, '');
      } else {
        send({ type: 'error', message: 'Unknown or malformed message' });
      }
    });
  }

  private serveTts(ws: WebSocket, url: URL): void {
    if (!url.searchParams.get('model')) return void ws.close(1008, 'model is required');
    const streamer = new TtsStreamer(this.synth!, 24000, this.opts, (piece) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength));
    });
    ws.on('message', (data) => {
      const msg = parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data) });
      if (!msg || typeof msg.text !== 'string') {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', message: 'Expected {"text": string}' }));
        return;
      }
      if (msg.text === '') void streamer.whenIdle().then(() => ws.close(1000, ''));
      else streamer.speak(msg.text);
    });
    ws.on('close', () => streamer.dispose());
  }
}

function withQueryKey(req: Parameters<typeof checkBearer>[0], url: URL): Parameters<typeof checkBearer>[0] {
  const cred = credentialOf(req, url);
  if (cred?.scheme === 'query') req.headers.authorization = `Bearer ${cred.key}`;
  return req;
}
