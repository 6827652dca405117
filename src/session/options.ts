import { ConfigError } from '../errors';
import { SESSION_OPTIONS } from '../option-names';
import { checkOptionNames } from '../provider';
import type { VoiceSessionOptions } from './types';

const count = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
const duration = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * Checks the names, numbers and lists of a session's options at construction, so that a typo
 * fails with a {@link ConfigError} naming the option instead of misbehaving mid-call (or being
 * ignored, from plain JavaScript).
 */
export function checkSessionOptions(o: Partial<VoiceSessionOptions>): void {
  checkOptionNames('VoiceSession', o, SESSION_OPTIONS);
  if (o.bargeIn) {
    if (o.bargeIn.minWords !== undefined && !count(o.bargeIn.minWords, 0)) throw new ConfigError(`bargeIn.minWords must be a whole number of words, 0 or more (got ${String(o.bargeIn.minWords)})`);
    if (o.bargeIn.resumeAfterMs !== undefined && !duration(o.bargeIn.resumeAfterMs)) throw new ConfigError(`bargeIn.resumeAfterMs must be a duration in ms, 0 or more (got ${String(o.bargeIn.resumeAfterMs)})`);
  }
  if (o.maxSpeculativeRequests !== undefined && !count(o.maxSpeculativeRequests, 0)) throw new ConfigError(`maxSpeculativeRequests must be a whole number, 0 or more (got ${String(o.maxSpeculativeRequests)})`);
  if (o.maxToolSteps !== undefined && !count(o.maxToolSteps, 1)) throw new ConfigError(`maxToolSteps must be a whole number, 1 or more (got ${String(o.maxToolSteps)})`);
  const seen = new Set<string>();
  for (const t of o.tools ?? []) {
    if (!t || typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.name)) throw new ConfigError(`tool names must be 1 to 64 letters, digits, _ or - (got ${JSON.stringify(t?.name)})`);
    if (seen.has(t.name)) throw new ConfigError(`two tools are named ${t.name}: the model could not tell them apart`);
    if (typeof t.execute !== 'function') throw new ConfigError(`tool ${t.name} has no execute function`);
    seen.add(t.name);
  }
  const fillerAfter = typeof o.toolFiller === 'object' ? o.toolFiller.afterMs : undefined;
  if (fillerAfter !== undefined && !duration(fillerAfter)) throw new ConfigError(`toolFiller.afterMs must be a duration in ms, 0 or more (got ${String(fillerAfter)})`);
  if (o.vadTurnEndMs !== undefined && !(duration(o.vadTurnEndMs) && o.vadTurnEndMs > 0)) throw new ConfigError(`vadTurnEndMs must be a positive duration in ms (got ${String(o.vadTurnEndMs)})`);
  if (o.budget !== undefined && !(typeof o.budget === 'number' && o.budget > 0)) throw new ConfigError(`budget must be a positive amount (got ${String(o.budget)})`);
}

/** What a value is, for an error message: `a string`, `undefined`, `an object without write()`. */
function described(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `a string (${JSON.stringify(value.slice(0, 60))})`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * `VoiceSession.run()`'s argument, checked before anything starts (plain JavaScript gets no
 * compiler check): a missing or wrong `input` or `output` is a `ConfigError` saying what goes
 * there, rather than a `TypeError` from deep in the call reported as a provider failure.
 */
export function checkRunArguments(call: unknown): void {
  const usage = 'VoiceSession.run() takes { input, output }';
  if (!call || typeof call !== 'object') throw new ConfigError(`${usage}, not ${described(call)}`);
  checkOptionNames('VoiceSession.run()', call, { input: true, output: true, signal: true });
  const { input, output, signal } = call as Record<string, unknown>;
  if (typeof (input as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] !== 'function') {
    throw new ConfigError(`${usage}: input must be an async iterable of audio frames (wavFileInput(path), soxMic(), pcmInput(stream, { sampleRate }), caller.input(session)), not ${described(input)}`);
  }
  const missing = ['write', 'clear', 'drain', 'close'].filter((m) => typeof (output as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length) {
    const what = output && typeof output === 'object' ? `an object without ${missing.map((m) => `${m}()`).join(', ')}` : described(output);
    throw new ConfigError(`${usage}: output must be an AudioOutput (virtualSpeaker(), wavFileOutput(path), soxSpeaker(), pcmOutput(stream, { sampleRate })), not ${what}`);
  }
  if (signal !== undefined && typeof (signal as AbortSignal | null)?.addEventListener !== 'function') throw new ConfigError(`${usage}: signal must be an AbortSignal, not ${described(signal)}`);
}
