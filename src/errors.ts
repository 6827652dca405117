/**
 * Typed errors thrown by every layer of voxline.
 *
 * Every error has a stable {@link VoxlineError.code}, the provider it concerns (if any), a
 * {@link VoxlineError.retryable} flag and an optional cause. Messages are scrubbed of every
 * secret registered with {@link registerSecret}, which each provider client does with its key.
 * @module
 */

import { inspect } from 'node:util';

const secrets = new Set<string>();

/**
 * Registers a secret (an API key) so that it is removed from every voxline error message.
 * Provider clients call this with the keys they are given; call it for your own secrets too.
 */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) secrets.add(secret);
}

/** Replaces every registered secret in `text` with `[redacted]`. */
export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'provider_error'
  | 'auth_error'
  | 'rate_limited'
  | 'protocol_error'
  | 'audio_format_error'
  | 'tool_error'
  | 'timeout'
  | 'aborted'
  | 'config_error'
  | 'connection_error'
  | 'device_error'
  | 'budget_exceeded';

/** Options common to every voxline error. */
export interface VoxlineErrorOptions {
  /** Provider the error concerns, e.g. `deepgram`, `openai`, `elevenlabs`, `gateway`. */
  provider?: string | undefined;
  /** Whether trying again may succeed. */
  retryable?: boolean | undefined;
  /** The underlying error. Its message is scrubbed of secrets too. */
  cause?: unknown;
}

/** Base class of every error voxline throws. */
export class VoxlineError extends Error {
  /** Stable error code. */
  readonly code: ErrorCode;
  /** Provider the error concerns, if any. */
  readonly provider?: string;
  /** Whether trying again may succeed. */
  readonly retryable: boolean;

  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(code: ErrorCode, message: string, options: VoxlineErrorOptions = {}) {
    super(redact(message), options.cause === undefined ? undefined : { cause: scrubCause(options.cause) });
    this.name = new.target.name;
    this.code = code;
    this.provider = options.provider;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * `cause` with every registered secret removed, at any depth: an error that shows a secret anywhere
 * (message, stack, own fields, or its own `cause` chain) is replaced by a copy that keeps its name,
 * scrubbed message, stack and cause; any other value that shows one becomes its scrubbed text.
 */
function scrubCause(cause: unknown, depth = 0): unknown {
  if (secrets.size === 0 || cause === undefined || cause === null) return cause;
  if (typeof cause === 'string') return redact(cause);
  const shown = inspect(cause, { depth: 6 });
  if (redact(shown) === shown) return cause;
  if (!(cause instanceof Error) || depth > 8) return redact(shown);
  const inner = (cause as { cause?: unknown }).cause;
  const copy = new Error(redact(cause.message), inner === undefined ? undefined : { cause: scrubCause(inner, depth + 1) });
  copy.name = cause.name;
  copy.stack = cause.stack === undefined ? undefined : redact(cause.stack);
  return copy;
}

/** A provider answered with an error (HTTP status, error message or abnormal close). */
export class ProviderError extends VoxlineError {
  /** HTTP status or WebSocket close code, when there is one. */
  readonly status?: number;
  /** The provider's own machine-readable error code, when it sent one (e.g. Cartesia's `error_code`). */
  readonly providerCode?: string;
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions & { status?: number; code?: ErrorCode; providerCode?: string } = {}) {
    super(options.code ?? 'provider_error', message, options);
    this.status = options.status;
    this.providerCode = options.providerCode;
  }
}

/**
 * The gateway refused a request because a spend cap was reached (HTTP 402 `budget_exceeded`),
 * before dispatching it: every later request under the same tag would be refused too. A
 * `VoiceSession` ends the call with a spoken line when its LLM throws it.
 */
export class BudgetExceededError extends ProviderError {
  /** The `x-aig-tag` the request was sent under, when it had one. */
  readonly tag?: string;
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions & { status?: number; tag?: string } = {}) {
    super(message, { ...options, retryable: false, code: 'budget_exceeded', providerCode: 'budget_exceeded' });
    this.tag = options.tag;
  }
}

/** The provider refused the credentials. Never retryable; the key is never in the message. */
export class AuthError extends ProviderError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions & { status?: number } = {}) {
    super(message, { ...options, retryable: false, code: 'auth_error' });
  }
}

/** A provider sent something that does not follow its protocol. */
export class ProtocolError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions = {}) {
    super('protocol_error', message, options);
  }
}

/** Audio of a format voxline cannot use (wrong rate, channels, bit depth, truncated data). */
export class AudioFormatError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions = {}) {
    super('audio_format_error', message, options);
  }
}

/** A tool call failed: bad arguments, a throwing handler, or a timeout. */
export class ToolError extends VoxlineError {
  /** Name of the tool. */
  readonly tool: string;
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(tool: string, message: string, options: VoxlineErrorOptions = {}) {
    super('tool_error', message, options);
    this.tool = tool;
  }
}

/** Something took longer than its configured limit. */
export class TimeoutError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions = {}) {
    super('timeout', message, { retryable: true, ...options });
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message = 'The operation was aborted', options: VoxlineErrorOptions = {}) {
    super('aborted', message, options);
  }
}

/** A local audio device or the program driving it (SoX, ALSA), or an audio output, failed: the message names the cause and the fix. */
export class DeviceError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions = {}) {
    super('device_error', message, options);
  }
}

/** Invalid options given to a voxline constructor or function. */
export class ConfigError extends VoxlineError {
  /** Creates the error; secrets registered with `registerSecret` are redacted from the message and the cause. */
  constructor(message: string, options: VoxlineErrorOptions = {}) {
    super('config_error', message, options);
  }
}

/** True when `err` is an abort (voxline's, the DOM's or the openai package's). */
export function isAbortError(err: unknown): boolean {
  if (err instanceof AbortError) return true;
  if (!(err instanceof Error)) return false;
  return err.name === 'AbortError' || err.name === 'APIUserAbortError';
}
