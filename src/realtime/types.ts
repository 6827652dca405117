import type { AudioFrame } from '../audio/frame';
import type { ProtocolError, ProviderError, TimeoutError } from '../errors';
import type { ChatMessage, ToolCall, ToolSpec } from '../llm/types';

/** Token usage of one realtime response (from `response.done`). */
export interface RealtimeUsage {
  /** Input tokens, text and audio, cached ones included. */
  inputTokens: number;
  /** Output tokens, text and audio. */
  outputTokens: number;
  /** Of the input tokens, how many were audio. */
  inputAudioTokens: number;
  /** Of the output tokens, how many were audio. */
  outputAudioTokens: number;
  /** Of the input tokens, how many were cached. */
  cachedTokens: number;
}

/**
 * What a realtime connection reports. Audio positions (`audioStartMs`, `audioEndMs`) are
 * milliseconds of input audio appended since the connection was opened, continuous across
 * reconnections.
 */
export type RealtimeEvent =
  | {
      /** The model's turn detection heard the user start speaking. */
      type: 'speech_started';
      /** Where the speech starts in the audio sent, in milliseconds. */
      audioStartMs: number;
      /** The user's audio item. */
      itemId: string;
    }
  | {
      /** The model's turn detection decided the user stopped speaking. */
      type: 'speech_stopped';
      /** Where the speech ends in the audio sent, in milliseconds (the silence it waited for included). */
      audioEndMs: number;
      /** The user's audio item. */
      itemId: string;
    }
  | {
      /** The transcript of the user's audio item (runs beside the model, may come after its reply starts). */
      type: 'user_transcript';
      /** The user's audio item. */
      itemId: string;
      /** What the user said. */
      text: string;
    }
  | {
      /** The model started a response. */
      type: 'response_started';
      /** The response. */
      responseId: string;
    }
  | {
      /** Audio of the response, PCM16 at the model's rate. */
      type: 'audio';
      /** The response. */
      responseId: string;
      /** The assistant item the audio belongs to. */
      itemId: string;
      /** The audio. */
      frame: AudioFrame;
    }
  | {
      /** Text of the response: the audio's transcript, or the text itself in text output mode. */
      type: 'text';
      /** The response. */
      responseId: string;
      /** The assistant item the text belongs to. */
      itemId: string;
      /** The new text. */
      delta: string;
    }
  | {
      /** The model called a function; answer with {@link RealtimeConnection.sendToolResult}. */
      type: 'tool_call';
      /** The response. */
      responseId: string;
      /** The call. */
      call: ToolCall;
    }
  | {
      /** The response ended. */
      type: 'response_done';
      /** The response. */
      responseId: string;
      /** `completed`, `cancelled`, `incomplete` or `failed` (then with `error`; `reason: 'stalled'` when it sent nothing for the model's `stallTimeoutMs`). */
      status: string;
      /** Why it was cancelled or incomplete, as the server says. */
      reason?: string;
      /** Tokens the response used. */
      usage?: RealtimeUsage;
      /** The failure, when `status` is `failed`: the provider's, or a `TimeoutError` for a stalled response. */
      error?: ProviderError | TimeoutError;
    }
  | {
      /** The model's copy of an assistant audio item was cut at `audioEndMs`. */
      type: 'truncated';
      /** The assistant item. */
      itemId: string;
      /** Where it was cut, in milliseconds of its audio. */
      audioEndMs: number;
    }
  | {
      /**
       * The server reported an error in an event, or sent one that fails a single step (function
       * arguments that are not a string: a `ProtocolError`); the session stays open.
       */
      type: 'error';
      /** The error. */
      error: ProviderError | ProtocolError;
    }
  | {
      /** The socket dropped and a new one was opened; the conversation was restored from `history`. */
      type: 'reconnected';
      /** Which reconnection this is, from 1. */
      attempt: number;
    };

/** What a realtime session is set up with. */
export interface RealtimeConnectConfig {
  /** System instructions. */
  instructions?: string | undefined;
  /** Functions the model may call. */
  tools?: readonly ToolSpec[] | undefined;
  /**
   * Whether the server cancels a response by itself when the user starts speaking (default
   * false: voxline cancels and truncates at the heard position itself).
   */
  interruptResponse?: boolean | undefined;
  /** The conversation so far, used to restore it on a new socket after a drop. */
  history?: (() => readonly ChatMessage[]) | undefined;
  /** The voice to speak in, when not the model's own option (an agent's voice). */
  voice?: string | undefined;
}

/** What a handoff to another agent changes in an open realtime session. */
export interface RealtimeUpdate {
  /** The new system instructions (empty: none). */
  instructions: string;
  /** The functions the model may call now (the old ones stop being offered). */
  tools: readonly ToolSpec[];
  /** The new voice, if the agent has one. */
  voice?: string | undefined;
}

/** One open realtime session: events out, audio and control messages in. */
export interface RealtimeConnection extends AsyncIterable<RealtimeEvent> {
  /**
   * Appends the user's audio (resampled to the model's rate). May return a promise when the
   * socket's send buffer is full: await it before appending more (backpressure).
   */
  appendAudio(frame: AudioFrame): void | Promise<void>;
  /**
   * Asks for a response now, optionally with instructions for this response only, or with
   * `tools: false` to forbid function calls in it.
   */
  respond(options?: { instructions?: string | undefined; tools?: boolean | undefined }): void;
  /** Cancels a response in progress. */
  cancel(responseId?: string): void;
  /** Cuts the model's copy of an assistant audio item at `audioEndMs` (what the user heard). */
  truncate(itemId: string, audioEndMs: number): void;
  /** Gives the model a function call's result (does not ask for a response). */
  sendToolResult(callId: string, output: string): void;
  /** Replaces an assistant text item with `text` (what the user heard of it), for text output. */
  replaceText(itemId: string, text: string): void;
  /** Milliseconds of input audio appended so far. */
  readonly audioMs: number;
  /**
   * Changes instructions, tools and, where the provider allows it, the voice mid-session (a
   * handoff). Returns whether the voice changed (optional: without it, a handoff is refused).
   */
  update?(config: RealtimeUpdate): {
    /** The voice changed (false when the agent has none, or the provider refuses it now). */
    voice: boolean;
  };
  /** Closes the socket; iteration ends. */
  close(): Promise<void>;
}

/**
 * A speech-to-speech model: one connection hears the user, detects turns, calls tools and answers
 * in audio (or text, for a voxline TTS to speak).
 */
export interface RealtimeModel {
  /** Provider name used in errors and metrics. */
  readonly provider: string;
  /** Model id. */
  readonly model: string;
  /** Sample rate of the audio it takes and sends. */
  readonly sampleRate: number;
  /** `audio`: the model speaks; `text`: it writes and a voxline `TtsStream` speaks. */
  readonly output: 'audio' | 'text';
  /** Silence the turn detection waits for before `speech_stopped`, ms, when known. */
  readonly silenceMs?: number | undefined;
  /**
   * How long a response may send nothing before it is over (the connection then reports it
   * `failed` with a `TimeoutError`); the session bounds its own waits on the model by it too
   * (default 15 000 ms when absent).
   */
  readonly stallTimeoutMs?: number | undefined;
  /** Opens a session. Rejects with a typed error when the provider refuses it. */
  connect(config: RealtimeConnectConfig, options?: { signal?: AbortSignal | undefined }): Promise<RealtimeConnection>;
}
