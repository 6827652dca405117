import { type Clock, realClock } from '../streams/clock';

/**
 * A clock that runs `speed` times faster than the wall clock: its time starts at
 * `performance.now()` when it is made and advances `speed` ms per real ms, and its timers fire after
 * `1/speed` of their delay. Give the same one to the emulators, the scripted caller, the virtual
 * speaker and the session (their `clock` option): a call then takes a tenth of its real duration
 * at speed 10, in the same order, with every time and latency reported in the clock's time.
 *
 * Work that is not timed by the clock (encoding, parsing, sockets) still takes real time, which
 * shows `speed` times larger in the clock's time: keep `speed` modest (10 to 20) where latencies
 * are asserted.
 */
export function acceleratedClock(speed: number): Clock {
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`acceleratedClock: speed must be a positive number, got ${speed}`);
  const origin = performance.now();
  return {
    now: () => origin + (performance.now() - origin) * speed,
    setTimeout: (fn, ms) => setTimeout(fn, ms / speed),
    clearTimeout: realClock.clearTimeout,
    sleep: (ms, signal) => realClock.sleep(ms / speed, signal),
  };
}
