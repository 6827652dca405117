import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { ConfigError, VoxlineError, redact } from '../errors';
import type { ChatMessage, ToolCall } from '../llm/types';
import type { ToolOutcome } from '../llm/tools';
import type { PreemptionReport, TranscriptEntry } from '../session/types';
import type { TurnLatency, Usage } from '../session/metrics';
import type { VoiceSession } from '../session/session';

/**
 * How a call ended, as its record says:
 * - `hang-up`: the agent ended it (the user said a hang-up phrase, or the budget was reached);
 * - `caller-hung-up`: the caller ended it (Twilio's `stop`, the page's `stop` or a normal close);
 * - `caller-vanished`: the caller's socket went away without a goodbye (a reset, no answer to
 *   the heartbeat, no message for the idle timeout);
 * - `provider-error`: a provider failed for good (the STT, a realtime model, a refused key, or any
 *   provider with `onProviderError: 'close'`);
 * - `error`: anything else that failed (the agent factory threw, the output failed);
 * - `drain`: the server's drain ended it (`vs.drain()`, SIGTERM with `handleSignals`).
 */
export type CallEnding = 'hang-up' | 'caller-hung-up' | 'caller-vanished' | 'provider-error' | 'error' | 'drain';

/** A typed error as a record holds it: no stack, no cause, the message scrubbed of registered secrets. */
export interface RecordedError {
  /** The error class, e.g. `ProviderError`. */
  name: string;
  /** Its stable code, e.g. `rate_limited`. */
  code: string;
  /** The provider it concerns, if any. */
  provider?: string | undefined;
  /** What happened. */
  message: string;
}

/** A reply the caller cut off. */
export interface RecordedInterruption {
  /** What the caller heard of it, whole words (as the history and transcript record it). */
  heardText: string;
  /** What had been sent to TTS. */
  fullText: string;
  /** How much of its audio had played, in milliseconds. */
  playedMs: number;
}

/** One tool call of a call, with its outcome (absent when the call ended before the tool answered). */
export interface RecordedToolCall extends ToolCall {
  /** Its result or error, as the model was told. */
  outcome?: ToolOutcome;
}

/**
 * Everything a call left behind, delivered once when it ends (see `onCallEnd` and `records` of
 * `createVoiceServer`). It holds what was said and done, never the request's headers, the Twilio
 * `<Parameter>`s (they may carry a token) or a provider's key.
 */
export interface CallRecord {
  /** A random id, unique to this call. */
  id: string;
  /** `twilio` or `browser`. */
  channel: 'twilio' | 'browser' | 'webrtc';
  /** Twilio's call id, for phone calls. */
  callSid?: string | undefined;
  /** When the call reached the agent factory (ISO 8601). */
  startedAt: string;
  /** When the call ended (ISO 8601). */
  endedAt: string;
  /** `endedAt - startedAt`, in milliseconds. */
  durationMs: number;
  /** How the call ended. */
  ending: CallEnding;
  /** The session's own words for it (`'hang-up'`, `'caller hung up'`, `'server draining'`, ...), or what failed. */
  reason: string;
  /** The error that ended the call, for `provider-error` and `error`. */
  error?: RecordedError | undefined;
  /** Both sides in time order; the agent's entries are what the caller heard (cut-off replies marked `interrupted`). */
  transcript: TranscriptEntry[];
  /** Replies cut off by the caller: what was heard of each and what had been sent to TTS. */
  interruptions: RecordedInterruption[];
  /** The conversation as the model saw it (user, assistant and tool messages). */
  history: ChatMessage[];
  /** Tool calls, in order, with their outcomes. */
  toolCalls: RecordedToolCall[];
  /** What the call consumed. */
  usage: Usage;
  /** Estimated cost of `usage` (0 without the session's `prices`). */
  cost: number;
  /** Per-turn latencies, barge-in latencies and preemption counts. */
  metrics: {
    /** Completed turns. */
    turns: number;
    /** Each completed turn's latency breakdown. */
    latency: TurnLatency[];
    /** Each barge-in's latency, ms. */
    bargeIn: number[];
    /** Preemptive replies played and dropped. */
    preemption: Omit<PreemptionReport, 'hit'> & {
      /** Preemptive replies that were played. */
      hits: number;
    };
  };
  /** The errors the session recovered from (the first 100), in order. */
  errors: RecordedError[];
}

/** Where call records go: a file, a queue, a database. `write` may be slow or fail: the server never waits on it during a call. */
export interface RecordSink {
  /** Takes one record. A throw or a rejection is logged, never thrown into the server. */
  write(record: CallRecord): void | Promise<void>;
  /** Resolves once every record written so far is stored (a drain waits on it, up to a deadline). */
  flush?: (() => Promise<void>) | undefined;
}

/** Most errors, tool calls and interruptions a record keeps: a call that loops on failures stays bounded. */
const MAX_RECORDED_ERRORS = 100;

/** A typed error in a record's form. */
export function recordedError(err: unknown): RecordedError {
  const e = err instanceof VoxlineError ? err : undefined;
  return {
    name: e?.name ?? (err as Error)?.name ?? 'Error',
    code: e?.code ?? 'provider_error',
    ...(e?.provider ? { provider: e.provider } : {}),
    message: redact(String((err as Error)?.message ?? err)).slice(0, 1000),
  };
}

/**
 * Watches a session from its start and builds its {@link CallRecord} when the call ends: the
 * tool calls, interruptions and errors come from its events, the rest from what the session
 * holds (`transcript`, `history`, `usage`, `cost`, `metrics`).
 */
export class CallRecorder {
  private readonly started = Date.now();
  private readonly id = randomUUID();
  private readonly toolCalls: RecordedToolCall[] = [];
  private readonly interruptions: CallRecord['interruptions'] = [];
  private readonly errors: RecordedError[] = [];
  private turns = 0;
  private reason?: string;
  private session?: VoiceSession;

  /** @param call The call's channel and Twilio id. */
  constructor(private readonly call: { channel: 'twilio' | 'browser' | 'webrtc'; callSid?: string | undefined }) {}

  /** Starts listening to the session's events (call it before `run()`). */
  watch(session: VoiceSession): void {
    this.session = session;
    const keep = <T>(list: T[], item: T) => void (list.length < MAX_RECORDED_ERRORS && list.push(item));
    session.on('tool_call', (c) => keep(this.toolCalls, { id: c.id, name: c.name, arguments: c.arguments }));
    session.on('tool_result', ({ call, outcome }) => {
      const entry = this.toolCalls.find((t) => t.id === call.id && !t.outcome);
      if (entry) entry.outcome = outcome;
    });
    session.on('interrupted', (i) => keep(this.interruptions, { heardText: i.heardText, fullText: i.fullText, playedMs: i.playedMs }));
    session.on('error', (e) => keep(this.errors, recordedError(e)));
    session.on('turn', () => this.turns++);
    session.on('closed', ({ reason }) => (this.reason = reason));
  }

  /** The record, now; `fatal` is what `run()` (or the agent factory) threw, `drained` whether the drain ended the call. */
  build({ fatal, drained, caller, stuck }: { fatal?: unknown; drained: boolean; caller: 'stop' | 'closed' | 'vanished' | 'open'; stuck?: string }): CallRecord {
    const s = this.session;
    const reason = stuck ?? (fatal !== undefined && !s ? 'the agent factory failed' : this.reason ?? 'closed');
    const ending = endingOf({ fatal, reason, drained, caller, hasSession: !!s });
    const ended = Date.now();
    const m = s?.metrics;
    // Copies: the record must not change if the session is touched later, and must serialise.
    const copy = <T>(v: T): T => structuredCloneSafe(v);
    return {
      id: this.id,
      channel: this.call.channel,
      ...(this.call.callSid ? { callSid: this.call.callSid } : {}),
      startedAt: new Date(this.started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      durationMs: ended - this.started,
      ending,
      reason,
      ...(fatal !== undefined ? { error: recordedError(fatal) } : {}),
      transcript: copy(s?.transcript ?? []),
      interruptions: copy(this.interruptions),
      history: copy(s?.history ?? []),
      toolCalls: copy(this.toolCalls),
      usage: { ...(s?.usage ?? { sttSeconds: 0, llmPromptTokens: 0, llmCompletionTokens: 0, ttsCharacters: 0 }) },
      cost: s?.cost ?? 0,
      metrics: {
        turns: this.turns,
        latency: copy(m?.turns ?? []),
        bargeIn: [...(m?.bargeIn ?? [])],
        preemption: { ...(m?.preemption ?? { hits: 0, misses: 0, wastedTokens: 0, wastedChars: 0 }) },
      },
      errors: copy(this.errors),
    };
  }
}

/** The {@link CallEnding} from what is known once the call is over. */
function endingOf(o: { fatal?: unknown; reason: string; drained: boolean; caller: 'stop' | 'closed' | 'vanished' | 'open'; hasSession: boolean }): CallEnding {
  if (o.fatal !== undefined) {
    if (!o.hasSession) return 'error';
    const p = o.fatal instanceof VoxlineError ? o.fatal.provider : undefined;
    // The output's adapter (the caller's socket) is not a provider.
    return p && p !== 'twilio' && p !== 'browser' && o.reason !== 'output failed' ? 'provider-error' : 'error';
  }
  if (o.reason === 'server draining' || o.drained) return 'drain';
  if (!o.hasSession) return 'error';
  if (o.reason === 'provider error' || o.reason === 'stt failed') return 'provider-error';
  if (o.reason === 'output failed') return 'error';
  if (o.reason === 'hang-up' || o.reason === 'budget reached') return 'hang-up';
  return o.caller === 'vanished' ? 'caller-vanished' : 'caller-hung-up';
}

/** A deep copy through JSON: what a record holds is plain data (tool results included). */
function structuredCloneSafe<T>(v: T): T {
  try {
    return JSON.parse(JSON.stringify(v)) as T;
  } catch {
    return [] as unknown as T; // a tool result that does not serialise (a cycle, a BigInt)
  }
}

/** Options of {@link jsonlRecords}. */
export interface JsonlRecordsOptions {
  /** Records waiting to be written at most; past it, new ones are dropped and logged (default 1000). */
  maxQueue?: number | undefined;
  /** Where write failures and drops are reported (default: `console`). */
  logger?: {
    /** Called with one line. */
    warn(message: string): void;
  } | undefined;
}

/** A {@link RecordSink} to a JSON-lines file, from {@link jsonlRecords}. */
export interface JsonlRecordSink extends RecordSink {
  /** Resolves once every queued record is written. */
  flush(): Promise<void>;
  /** Writes what is queued; later records are dropped. */
  close(): Promise<void>;
  /** Records written so far. */
  readonly written: number;
  /** Records dropped (the queue was full, the file could not be written, or after close). */
  readonly dropped: number;
}

/**
 * Appends each call record to `path` as one JSON line (the file is created if missing). Bounded
 * and asynchronous: `write` only queues (at most `maxQueue` records; more are dropped and logged),
 * one writer appends what is queued in order (the file opened for each batch, so no descriptor
 * is held between calls and a rotated file is followed), and a failure to write is logged, never
 * thrown.
 *
 * @example
 * ```ts
 * const records = jsonlRecords('/var/log/voxline/calls.jsonl');
 * createVoiceServer({ agent, records });
 * ```
 */
export function jsonlRecords(path: string, options: JsonlRecordsOptions = {}): JsonlRecordSink {
  if (typeof path !== 'string' || !path) throw new ConfigError('jsonlRecords needs the path of the file to append to');
  const maxQueue = options.maxQueue ?? 1000;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new ConfigError(`jsonlRecords: maxQueue must be a whole number, 1 or more (got ${String(options.maxQueue)})`);
  const log = (message: string) => {
    try {
      (options.logger ?? console).warn(`voxline: ${message}`);
    } catch {
      // a logger that throws loses the line
    }
  };
  const queue: string[] = [];
  let running: Promise<void> | undefined;
  let closed = false;
  let written = 0;
  let dropped = 0;
  const pump = async () => {
    while (queue.length) {
      const batch = queue.splice(0, queue.length);
      try {
        // Opened and closed per batch: nothing is held open between calls, a rotated file is followed.
        await appendFile(path, batch.join(''));
        written += batch.length;
      } catch (err) {
        dropped += batch.length;
        log(`${batch.length} call record(s) could not be written to ${path}: ${(err as Error).message}`);
      }
    }
  };
  const kick = () => {
    running ??= pump().finally(() => {
      running = undefined;
      if (queue.length) kick();
    });
    return running;
  };
  return {
    write(record) {
      if (closed || queue.length >= maxQueue) {
        dropped++;
        return void log(`a call record was dropped: ${closed ? 'the records file is closed' : `${maxQueue} records are already waiting to be written`}`);
      }
      let line: string;
      try {
        line = `${JSON.stringify(record)}\n`;
      } catch (err) {
        dropped++;
        return void log(`a call record could not be serialised: ${(err as Error).message}`);
      }
      queue.push(line);
      void kick();
    },
    async flush() {
      while (running || queue.length) await kick();
    },
    async close() {
      closed = true;
      await this.flush();
    },
    get written() {
      return written;
    },
    get dropped() {
      return dropped;
    },
  };
}
