import { sleep as sleepReal } from './channel';

/** A pending timer of a {@link Clock}. */
export type ClockTimer = object;

/**
 * Where time comes from: the session, the pacing of audio, the scripted caller and the emulators
 * read the time and set their timers through one of these. The default, {@link realClock}, is the
 * wall clock; `acceleratedClock()` from `voxline/testing` runs tests faster than real time.
 */
export interface Clock {
  /** Monotonic milliseconds, like `performance.now()`. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** Cancels a timer (no-op for `undefined` or a timer that already ran). */
  clearTimeout(timer: ClockTimer | undefined): void;
  /** Resolves after `ms`, or rejects with an abort error when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Marks `work` (already started, e.g. speech synthesis or a VAD model running off the main
   * thread) as taking no time on this clock: a virtual clock does not move until it settles.
   * Returns `work`. Optional; the wall clock has no use for it.
   */
  hold?: (<T>(work: Promise<T>) => Promise<T>) | undefined;
}

/** `work`, held on `clock` when the clock holds work (see {@link Clock.hold}). */
export function holdOn<T>(clock: Clock, work: Promise<T>): Promise<T> {
  return clock.hold ? clock.hold(work) : work;
}

/** The wall clock: `performance.now()` and the global timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  sleep: sleepReal,
};
