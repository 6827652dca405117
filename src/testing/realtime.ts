import { randomUUID } from 'node:crypto';
import type {
  ConversationItem,
  RealtimeClientEvent,
  RealtimeConversationItemAssistantMessage,
  RealtimeConversationItemFunctionCall,
  RealtimeResponseCreateParams,
  RealtimeServerEvent,
  RealtimeSessionCreateRequest,
} from 'openai/resources/realtime/realtime';
import type { WebSocket } from 'ws';
import { decodeMulaw } from '../audio/mulaw';
import { holdOn } from '../streams/clock';
import { type Synthesizer, toneSynthesizer } from '../tts/speech';
import { Emulator, type EmulatorOptions, parseJson } from './emulator';
import { checkEmulatorOptions } from './emulator-options';
import { type ChatRequest, type Responder, checkBearer, defaultResponder, tokenize } from './openai';
import { SttEngine, type SttEngineEvent, type SttScript, scriptOf } from './stt-engine';
import { TtsStreamer } from './tts-engine';

/** Options of {@link RealtimeEmulator}. */
export interface RealtimeEmulatorOptions extends EmulatorOptions {
  /** What the caller says, utterance by utterance (the emulated model "hears" this text). */
  script?: string[] | SttScript | undefined;
  /** Decides the model's replies from the conversation (default: the chat emulator's rules). */
  responder?: Responder | undefined;
  /** The model's voice (default: a voice-like tone). */
  synthesizer?: Synthesizer | undefined;
  /** From the end of the user's turn (or `response.create`) to the first output event (default 500 ms). */
  timeToFirstAudioMs?: number | undefined;
  /** Wall time per second of audio sent (default 0.5: twice as fast as it plays, like the service). */
  realtimeFactor?: number | undefined;
  /** Text tokens per second in text output mode (default 60). */
  tokensPerSecond?: number | undefined;
  /** From the commit of a user item to its transcript (default 250 ms). */
  transcriptionDelayMs?: number | undefined;
}

/** One emulated session: its effective configuration and the model's memory. */
export interface EmulatedRealtimeSession {
  /** The effective configuration (`session.update`s applied). */
  session: RealtimeSessionCreateRequest;
  /**
   * The conversation as the service stores it, in order. An assistant audio item holds its
   * transcript until it is truncated: truncation removes it (as the API reference says), and
   * the model keeps only the audio up to the cut (see {@link EmulatedRealtimeSession.kept}).
   */
  items: ConversationItem[];
  /**
   * What the model keeps of an assistant audio item: the words its audio speaks up to where it
   * was truncated (all of them when it was not), or undefined for an item without audio.
   */
  kept(itemId: string): string | undefined;
  /** Closes the socket from the server side, like a dropped connection. */
  drop(code?: number, reason?: string): void;
}

type Outgoing = RealtimeServerEvent extends infer E ? (E extends unknown ? Omit<E, 'event_id'> : never) : never;

interface ActiveResponse {
  id: string;
  abort: AbortController;
  output: ConversationItem[];
  modalities: ('text' | 'audio')[];
  cancelled?: 'turn_detected' | 'client_cancelled' | undefined;
  outputAudioMs: number;
  outputTextTokens: number;
}

/** An assistant audio item's audio as the model keeps it, and which characters were spoken when. */
interface AudioTrack {
  /** Audio kept, ms (cut by a truncation). */
  ms: number;
  /** The PCM16 24 kHz audio sent, piece by piece (cut by a truncation). */
  pcm: Int16Array[];
  chars: { atMs: number; c: string }[];
  /** Truncated: the transcript is gone from the item. */
  cut?: boolean;
}

interface Connection extends EmulatedRealtimeSession {
  ws: WebSocket;
  engine: SttEngine;
  /** The scripted text of each user audio item. */
  heard: Map<string, string>;
  /** Per assistant audio item: its audio and which characters were spoken when. */
  audio: Map<string, AudioTrack>;
  active?: ActiveResponse | undefined;
  speechItem?: string | undefined;
  inputAudioMs: number;
  sent: number;
  conversationId: string;
  send(ev: Outgoing): void;
}

/** The characters an audio track speaks before `ms`. */
const spokenBefore = (track: AudioTrack, ms: number) => track.chars.filter((x) => x.atMs < ms).map((x) => x.c).join('');

const uid = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 20)}`;

/** The option names of {@link RealtimeEmulator}, for {@link checkEmulatorOptions}. */
const REALTIME_EMULATOR_OPTIONS: Readonly<Record<keyof RealtimeEmulatorOptions, true>> = {
  script: true, responder: true, synthesizer: true, timeToFirstAudioMs: true, realtimeFactor: true,
  tokensPerSecond: true, transcriptionDelayMs: true, apiKey: true, port: true, maxPayload: true,
  handshakeDelayMs: true, clock: true, tls: true,
};

/**
 * A local emulator of OpenAI's Realtime WebSocket (`/v1/realtime?model=…`), speaking the GA event
 * protocol typed in the `openai` package: `session.update`, `input_audio_buffer.append` (PCM16
 * 24 kHz or G.711 μ-law) with server VAD or semantic VAD turn detection, user transcripts,
 * responses with audio, transcript and text deltas, function calls and `function_call_output`
 * items, `response.cancel`, `conversation.item.truncate` (the audio is kept up to the cut and
 * the transcript deleted, as the API reference says), `conversation.item.create`/`delete`/
 * `retrieve`, `response.done` with usage, and `error` events. Speech is found with an energy VAD;
 * its words are the next line of the script. Every delay runs on the `clock` option.
 */
export class RealtimeEmulator extends Emulator {
  /** Replaces the responder. */
  responder: Responder;
  /** Every session served, in order. */
  readonly sessions: EmulatedRealtimeSession[] = [];
  private readonly script: SttScript;

  /**
   * Listens nowhere until `start()`.
   * @param opts The emulator's options (readable afterwards).
   */
  constructor(readonly opts: RealtimeEmulatorOptions = {}) {
    super(opts);
    checkEmulatorOptions('RealtimeEmulator', opts, REALTIME_EMULATOR_OPTIONS);
    this.responder = opts.responder ?? defaultResponder;
    this.script = Array.isArray(opts.script) ? scriptOf(opts.script) : opts.script ?? scriptOf(['hello']);
    this.guard = (req, url) => checkBearer(req, opts.apiKey) ?? (url.searchParams.get('model') ? undefined : { status: 400, body: JSON.stringify({ error: { message: 'Missing required parameter: model.', type: 'invalid_request_error', param: 'model', code: 'missing_required_parameter' } }) });
    this.ws('/v1/realtime', (ws, _req, url) => this.serve(ws, url));
  }

  private serve(ws: WebSocket, url: URL): void {
    const model = url.searchParams.get('model')!;
    const fault = { ...this.faults };
    this.faults.closeMidStream = undefined;
    const c: Connection = {
      ws,
      session: {
        type: 'realtime', model, output_modalities: ['audio'], instructions: '', tools: [], tool_choice: 'auto', max_output_tokens: 'inf',
        audio: {
          input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500, create_response: true, interrupt_response: true } },
          output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
        },
      },
      items: [],
      heard: new Map(),
      audio: new Map(),
      engine: undefined as unknown as SttEngine,
      inputAudioMs: 0,
      sent: 0,
      conversationId: uid('conv'),
      send: () => {},
      kept: (itemId: string) => {
        const track = c.audio.get(itemId);
        return track && spokenBefore(track, track.ms);
      },
      drop: (code = 1011, reason = 'emulated connection drop') => {
        c.active?.abort.abort();
        ws.close(code, reason);
      },
    };
    c.engine = this.engineFor(c);
    this.sessions.push(c);
    const send = (c.send = (ev: Outgoing) => {
      if (ws.readyState !== ws.OPEN) return;
      if (this.faults.malformed) {
        this.faults.malformed = false;
        ws.send('{"type":"response.output_audio.delta","delta":');
      }
      ws.send(JSON.stringify({ event_id: uid('event'), ...ev }));
      c.sent++;
      const cut = fault.closeMidStream;
      if (cut?.afterMessages !== undefined && c.sent >= cut.afterMessages) {
        fault.closeMidStream = undefined;
        c.drop(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
      }
    });
    const error = (message: string, code: string | null = null, param: string | null = null, eventId: string | null = null, type = 'invalid_request_error') =>
      send({ type: 'error', error: { type, code, message, param, event_id: eventId } });
    send({ type: 'session.created', session: c.session });
    ws.on('close', () => c.active?.abort.abort());
    ws.on('message', (data, isBinary) => {
      const msg = isBinary ? undefined : parseJson(data);
      this.record.messages.push(msg ?? { unparsed: String(data).slice(0, 200) });
      if (!msg || typeof msg.type !== 'string') return error('Invalid JSON or missing event type.', 'invalid_json');
      const ev = msg as unknown as RealtimeClientEvent;
      const eventId = ev.event_id ?? null;
      switch (ev.type) {
        case 'session.update': {
          const s = ev.session;
          if (s.type !== 'realtime') return error(`Invalid value: '${String(s.type)}'. This socket serves realtime sessions.`, 'invalid_value', 'session.type', eventId);
          // The voice is fixed once the model has spoken (the openai package's SessionUpdateEvent docs).
          const voice = s.audio?.output?.voice;
          if (voice !== undefined && voice !== c.session.audio?.output?.voice && [...c.audio.values()].some((a) => a.ms > 0)) return error("Cannot update a conversation's voice if assistant audio is present.", 'cannot_update_voice', null, eventId);
          const input = { ...c.session.audio?.input, ...s.audio?.input };
          const output = { ...c.session.audio?.output, ...s.audio?.output };
          c.session = { ...c.session, ...s, audio: { input, output } };
          c.engine = this.engineFor(c);
          return send({ type: 'session.updated', session: c.session });
        }
        case 'input_audio_buffer.append': {
          const bytes = Buffer.from(ev.audio, 'base64');
          const format = c.session.audio?.input?.format?.type ?? 'audio/pcm';
          const rate = format === 'audio/pcm' ? 24000 : 8000;
          const samples = format === 'audio/pcm' ? new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length - (bytes.length % 2))) : decodeMulaw(bytes);
          this.record.audioBytes += bytes.length;
          this.record.audioMessages++;
          c.inputAudioMs += (samples.length * 1000) / rate;
          this.onVad(c, c.engine.push(samples, rate));
          const cut = fault.closeMidStream;
          if (cut?.afterMs !== undefined && c.inputAudioMs >= cut.afterMs) {
            fault.closeMidStream = undefined;
            c.drop(cut.code ?? 1011, cut.reason ?? 'emulated connection drop');
          }
          return;
        }
        case 'input_audio_buffer.commit': {
          const finals = c.engine.finalize().filter((e) => e.type === 'result');
          if (!finals.length) return error('Error committing input audio buffer: buffer too small.', 'input_audio_buffer_commit_empty', null, eventId);
          return this.onVad(c, finals);
        }
        case 'input_audio_buffer.clear':
          c.engine = this.engineFor(c);
          return send({ type: 'input_audio_buffer.cleared' });
        case 'conversation.item.create': {
          const item = { ...ev.item, id: ev.item.id ?? uid('item') } as ConversationItem & { id: string };
          if (item.type === 'function_call_output' && !c.items.some((i) => i.type === 'function_call' && i.call_id === item.call_id)) {
            return error(`Tool call ID '${item.call_id}' not found in conversation.`, 'invalid_tool_call_id', 'item.call_id', eventId);
          }
          if (item.type !== 'message' && item.type !== 'function_call' && item.type !== 'function_call_output') return error(`Invalid value: '${item.type}'.`, 'invalid_value', 'item.type', eventId);
          return this.addItem(c, item);
        }
        case 'conversation.item.delete': {
          const at = c.items.findIndex((i) => i.id === ev.item_id);
          if (at < 0) return error(`Item with item_id not found: ${ev.item_id}`, 'item_delete_invalid_item_id', 'item_id', eventId);
          c.items.splice(at, 1);
          return send({ type: 'conversation.item.deleted', item_id: ev.item_id });
        }
        case 'conversation.item.truncate':
          return this.truncate(c, ev.item_id, ev.content_index, ev.audio_end_ms, eventId);
        case 'conversation.item.retrieve': {
          const item = c.items.find((i) => i.id === ev.item_id);
          if (!item) return error(`Item with item_id not found: ${ev.item_id}`, 'item_retrieve_invalid_item_id', 'item_id', eventId);
          return send({ type: 'conversation.item.retrieved', item: this.retrieved(c, item) });
        }
        case 'response.create':
          return void this.respond(c, ev.response ?? {}, eventId);
        case 'response.cancel':
          if (!c.active || (ev.response_id && ev.response_id !== c.active.id)) return error('Cancellation failed: no active response found', 'response_cancel_not_active', null, eventId);
          c.active.cancelled = 'client_cancelled';
          c.active.abort.abort();
          return;
        default:
          return error(`Invalid value: '${String((ev as { type: unknown }).type)}'. Supported values are the client events of the Realtime API.`, 'invalid_value', 'type', eventId);
      }
    });
  }

  private send(c: Connection, ev: Outgoing): void {
    c.send(ev);
  }

  /** A recogniser set up from the session's turn detection. */
  private engineFor(c: Connection): SttEngine {
    const td = c.session.audio?.input?.turn_detection;
    const silence = !td ? 1e9 : td.type === 'server_vad' ? td.silence_duration_ms ?? 500 : ({ high: 250, medium: 500, auto: 500, low: 1000 } as const)[td.eagerness ?? 'auto'];
    return new SttEngine(this.script, {
      finalDelayMs: silence,
      interimResults: false,
      endpointing: true,
      vadEvents: true,
      schedule: (ms, fire) => {
        const t = this.later(ms, () => this.onVad(c, fire()));
        return () => this.cancel(t);
      },
    });
  }

  private onVad(c: Connection, events: SttEngineEvent[]): void {
    const td = c.session.audio?.input?.turn_detection;
    for (const ev of events) {
      if (ev.type === 'speech_started') {
        if (!td) continue;
        c.speechItem = uid('item');
        this.send(c, { type: 'input_audio_buffer.speech_started', audio_start_ms: Math.max(0, Math.round(ev.timestamp * 1000 - (td.type === 'server_vad' ? td.prefix_padding_ms ?? 300 : 300))), item_id: c.speechItem });
        if (c.active && td.interrupt_response !== false) {
          c.active.cancelled = 'turn_detected';
          c.active.abort.abort();
        }
      } else if (ev.type === 'result' && ev.isFinal) {
        const itemId = c.speechItem ?? uid('item');
        c.speechItem = undefined;
        const silence = td?.type === 'server_vad' ? td.silence_duration_ms ?? 500 : 0;
        // The documented stop position includes the silence waited for.
        if (td) this.send(c, { type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round((ev.start + ev.duration) * 1000 + silence), item_id: itemId });
        const previous = c.items.at(-1)?.id ?? null;
        this.send(c, { type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: previous });
        c.heard.set(itemId, ev.text);
        const part: { type: 'input_audio'; transcript?: string } = { type: 'input_audio' };
        this.addItem(c, { id: itemId, object: 'realtime.item', type: 'message', role: 'user', status: 'completed', content: [part] });
        const transcription = c.session.audio?.input?.transcription;
        if (transcription) {
          this.later(this.opts.transcriptionDelayMs ?? 250, () => {
            // Attached to the stored item for reference (the model does not read it).
            part.transcript = ev.text;
            this.send(c, { type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: ev.text });
            this.send(c, { type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: ev.text, usage: { type: 'duration', seconds: Math.ceil(ev.duration) } });
          });
        }
        if (td && td.create_response !== false) void this.respond(c, {}, null);
      }
    }
  }

  private addItem(c: Connection, item: ConversationItem & { id: string }): void {
    const previous = c.items.at(-1)?.id ?? null;
    c.items.push(item);
    this.send(c, { type: 'conversation.item.added', item, previous_item_id: previous });
    this.send(c, { type: 'conversation.item.done', item, previous_item_id: previous });
  }

  private truncate(c: Connection, itemId: string, contentIndex: number, audioEndMs: number, eventId: string | null): void {
    const item = c.items.find((i) => i.id === itemId);
    const audio = c.audio.get(itemId);
    const err = (message: string, code: string) => this.send(c, { type: 'error', error: { type: 'invalid_request_error', code, message, param: null, event_id: eventId } });
    if (!item || item.type !== 'message' || item.role !== 'assistant' || !audio) return err(`Only assistant messages with audio can be truncated; no such item: ${itemId}`, 'item_truncate_invalid_item_id');
    if (contentIndex !== 0) return err(`Invalid content_index: ${contentIndex}`, 'invalid_value');
    if (!(audioEndMs >= 0) || audioEndMs > audio.ms + 1) return err(`Audio content of ${Math.round(audio.ms)}ms is already shorter than ${audioEndMs}ms`, 'invalid_value');
    // The service keeps the audio up to the cut and deletes the transcript, so that no text the
    // user did not hear stays in the context (API reference, `conversation.item.truncate`).
    item.content = [{ type: 'output_audio' }];
    audio.ms = Math.min(audio.ms, audioEndMs);
    let keep = Math.round((audio.ms * 24000) / 1000);
    audio.pcm = audio.pcm.flatMap((p) => {
      const kept = p.subarray(0, Math.max(0, keep));
      keep -= kept.length;
      return kept.length ? [kept] : [];
    });
    audio.cut = true;
    this.send(c, { type: 'conversation.item.truncated', item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
  }

  /** An item as `conversation.item.retrieved` returns it: with its audio (base64 PCM16 at 24 kHz). */
  private retrieved(c: Connection, item: ConversationItem): ConversationItem {
    const track = item.id ? c.audio.get(item.id) : undefined;
    if (item.type !== 'message' || item.role !== 'assistant' || !track) return item;
    const pcm = Buffer.concat(track.pcm.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
    return { ...item, content: item.content.map((part, i) => (i === 0 && part.type === 'output_audio' ? { ...part, audio: pcm.toString('base64') } : part)) };
  }

  /** The conversation as a chat request, for the responder. */
  private requestOf(c: Connection, params: RealtimeResponseCreateParams): ChatRequest {
    const messages: ChatRequest['messages'] = [];
    const instructions = params.instructions ?? c.session.instructions;
    if (instructions) messages.push({ role: 'system', content: instructions });
    for (const i of c.items) {
      if (i.type === 'message') {
        // The model hears its own audio: a truncated item (no transcript) is what it kept of it.
        const track = i.id ? c.audio.get(i.id) : undefined;
        const text = track ? spokenBefore(track, track.ms) : i.content.map((p) => ('transcript' in p && p.transcript) || ('text' in p && p.text) || '').join(' ');
        messages.push({ role: i.role, content: i.role === 'user' && c.heard.has(i.id ?? '') ? c.heard.get(i.id!)! : text });
      } else if (i.type === 'function_call') messages.push({ role: 'assistant', content: null, tool_calls: [{ id: i.call_id, type: 'function', function: { name: i.name, arguments: i.arguments } }] });
      else if (i.type === 'function_call_output') messages.push({ role: 'tool', tool_call_id: i.call_id, content: i.output });
    }
    const tools = (params.tool_choice === 'none' ? [] : params.tools ?? c.session.tools ?? []).flatMap((t) => (t.type === 'function' && t.name ? [{ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } }] : []));
    return { model: c.session.model ?? 'gpt-realtime', messages, tools };
  }

  private async respond(c: Connection, params: RealtimeResponseCreateParams, eventId: string | null): Promise<void> {
    if (c.active) {
      return this.send(c, { type: 'error', error: { type: 'invalid_request_error', code: 'conversation_already_has_active_response', message: `Conversation already has an active response in progress: ${c.active.id}. Wait until the response is finished before creating a new one.`, param: null, event_id: eventId } });
    }
    const modalities = params.output_modalities ?? c.session.output_modalities ?? ['audio'];
    const r: ActiveResponse = { id: uid('resp'), abort: new AbortController(), output: [], modalities, outputAudioMs: 0, outputTextTokens: 0 };
    c.active = r;
    const base = { id: r.id, object: 'realtime.response' as const, conversation_id: c.conversationId, output_modalities: modalities, max_output_tokens: c.session.max_output_tokens ?? 'inf' };
    this.send(c, { type: 'response.created', response: { ...base, status: 'in_progress', output: [] } });
    const clock = this.clock;
    const start = clock.now();
    let status: 'completed' | 'cancelled' = 'completed';
    try {
      const request = this.requestOf(c, params);
      // Instructions for this response that ask for exact words are followed, as the model does.
      const exact = params.instructions && /\bsay exactly\b[^"]*"([\s\S]+)"\s*$/i.exec(params.instructions);
      const reply = exact ? { content: exact[1]! } : await holdOn(clock, Promise.resolve(this.responder(request)));
      const firstAt = start + (this.opts.timeToFirstAudioMs ?? 500);
      if (reply.content) await this.message(c, r, reply.content, firstAt);
      else await clock.sleep(Math.max(0, firstAt - clock.now()), r.abort.signal);
      for (const call of reply.toolCalls ?? []) await this.functionCall(c, r, call.name, typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments));
    } catch {
      status = 'cancelled';
    }
    if (r.abort.signal.aborted) status = 'cancelled';
    c.active = undefined;
    const inputText = Math.ceil(JSON.stringify(this.requestOf(c, params).messages).length / 4);
    const inputAudio = Math.ceil(c.inputAudioMs / 100);
    const outputAudio = Math.ceil(r.outputAudioMs / 50);
    this.send(c, {
      type: 'response.done',
      response: {
        ...base,
        status,
        ...(status === 'cancelled' ? { status_details: { type: 'cancelled', reason: r.cancelled ?? 'client_cancelled' } } : {}),
        output: r.output,
        usage: {
          input_tokens: inputText + inputAudio, output_tokens: r.outputTextTokens + outputAudio, total_tokens: inputText + inputAudio + r.outputTextTokens + outputAudio,
          input_token_details: { text_tokens: inputText, audio_tokens: inputAudio, image_tokens: 0, cached_tokens: 0, cached_tokens_details: { text_tokens: 0, audio_tokens: 0, image_tokens: 0 } },
          output_token_details: { text_tokens: r.outputTextTokens, audio_tokens: outputAudio },
        },
      },
    });
  }

  /** One assistant message: audio with its transcript, or text, streamed until done or cancelled. */
  private async message(c: Connection, r: ActiveResponse, text: string, firstAt: number): Promise<void> {
    const audioOut = r.modalities.includes('audio');
    const item: RealtimeConversationItemAssistantMessage & { id: string } = { id: uid('item'), object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
    // The voice is synthesised while the model "thinks": the first output comes at `firstAt`.
    const clock = this.clock;
    if (!audioOut) await clock.sleep(Math.max(0, firstAt - clock.now()), r.abort.signal);
    const output_index = r.output.length;
    const ids = { item_id: item.id, output_index, response_id: r.id, content_index: 0 };
    r.output.push(item);
    const previous = c.items.at(-1)?.id ?? null;
    c.items.push(item);
    this.send(c, { type: 'response.output_item.added', item, output_index, response_id: r.id });
    this.send(c, { type: 'conversation.item.added', item, previous_item_id: previous });
    this.send(c, { type: 'response.content_part.added', ...ids, part: audioOut ? { type: 'audio', transcript: '' } : { type: 'text', text: '' } });
    let said = '';
    try {
      if (audioOut) {
        const track: AudioTrack = { ms: 0, pcm: [], chars: [] };
        c.audio.set(item.id, track);
        const streamer = new TtsStreamer(this.opts.synthesizer ?? toneSynthesizer(), 24000, { timeToFirstAudioMs: Math.max(0, firstAt - clock.now()), realtimeFactor: this.opts.realtimeFactor ?? 0.5, clock }, (piece) => {
          if (r.abort.signal.aborted) return;
          piece.chars.forEach((ch, i) => track.chars.push({ atMs: track.ms + piece.charStartTimesMs[i]!, c: ch }));
          const pieceMs = (piece.samples.length * 1000) / 24000;
          track.ms += pieceMs;
          track.pcm.push(piece.samples);
          r.outputAudioMs += pieceMs;
          this.send(c, { type: 'response.output_audio.delta', ...ids, delta: Buffer.from(piece.samples.buffer, piece.samples.byteOffset, piece.samples.byteLength).toString('base64') });
          const delta = piece.chars.join('');
          said += delta;
          if (delta) this.send(c, { type: 'response.output_audio_transcript.delta', ...ids, delta });
        });
        const stopped = new Promise<void>((resolve) => r.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        streamer.speak(text);
        await Promise.race([streamer.whenIdle(), stopped]);
        streamer.dispose();
      } else {
        const gap = 1000 / (this.opts.tokensPerSecond ?? 60);
        for (const [i, tok] of tokenize(text).entries()) {
          if (i > 0) await clock.sleep(gap, r.abort.signal);
          said += tok;
          r.outputTextTokens++;
          this.send(c, { type: 'response.output_text.delta', ...ids, delta: tok });
        }
      }
    } finally {
      const cut = r.abort.signal.aborted;
      if (audioOut) {
        r.outputTextTokens += tokenize(said).length;
        this.send(c, { type: 'response.output_audio.done', ...ids });
        this.send(c, { type: 'response.output_audio_transcript.done', ...ids, transcript: said });
        // A truncation that came first already set what the model keeps.
        if (!c.audio.get(item.id)?.cut) item.content = [{ type: 'output_audio', transcript: said }];
      } else {
        this.send(c, { type: 'response.output_text.done', ...ids, text: said });
        item.content = [{ type: 'output_text', text: said }];
      }
      this.send(c, { type: 'response.content_part.done', ...ids, part: audioOut ? { type: 'audio', transcript: said } : { type: 'text', text: said } });
      item.status = cut ? 'incomplete' : 'completed';
      this.send(c, { type: 'response.output_item.done', item, output_index, response_id: r.id });
      this.send(c, { type: 'conversation.item.done', item, previous_item_id: previous });
    }
    if (r.abort.signal.aborted) throw new Error('cancelled');
  }

  /** One function call item with its arguments streamed. */
  private async functionCall(c: Connection, r: ActiveResponse, name: string, args: string): Promise<void> {
    const item: RealtimeConversationItemFunctionCall & { id: string; call_id: string } = { id: uid('item'), object: 'realtime.item', type: 'function_call', status: 'in_progress', call_id: uid('call'), name, arguments: '' };
    const output_index = r.output.length;
    r.output.push(item);
    const previous = c.items.at(-1)?.id ?? null;
    c.items.push(item);
    this.send(c, { type: 'response.output_item.added', item, output_index, response_id: r.id });
    this.send(c, { type: 'conversation.item.added', item, previous_item_id: previous });
    const ids = { item_id: item.id, output_index, response_id: r.id, call_id: item.call_id };
    for (const piece of args.match(/[\s\S]{1,7}/g) ?? []) {
      await this.clock.sleep(1000 / (this.opts.tokensPerSecond ?? 60), r.abort.signal);
      this.send(c, { type: 'response.function_call_arguments.delta', ...ids, delta: piece });
    }
    r.outputTextTokens += Math.ceil(args.length / 4);
    item.arguments = args;
    item.status = 'completed';
    this.send(c, { type: 'response.function_call_arguments.done', ...ids, name, arguments: args });
    this.send(c, { type: 'response.output_item.done', item, output_index, response_id: r.id });
    this.send(c, { type: 'conversation.item.done', item, previous_item_id: previous });
  }
}
