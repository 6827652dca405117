import { createHook } from 'node:async_hooks';
import { abortReason } from '../streams/channel';
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
  const now = () => origin + (performance.now() - origin) * speed;
  // Node's timers may fire up to a millisecond early by `performance.now()` (they count whole
  // milliseconds from the event loop's cached time), which is `speed` ms early on this clock: a
  // timer that fires before its time on the clock waits out the rest. Delays are capped at Node's
  // longest timer (about 24.8 days), which would otherwise fire after 1 ms, again and again.
  const wall = (clockMs: number) => Math.min(2 ** 31 - 1, Math.max(0, clockMs) / speed);
  const arm = (timer: { handle?: NodeJS.Timeout }, fn: () => void, due: number): void => {
    timer.handle = setTimeout(() => {
      const left = due - now();
      if (left > 0) arm(timer, fn, due);
      else fn();
    }, wall(due - now()));
  };
  return {
    now,
    setTimeout: (fn, ms) => {
      const timer: { handle?: NodeJS.Timeout } = {};
      arm(timer, fn, now() + ms);
      return timer;
    },
    clearTimeout: (timer) => clearTimeout((timer as { handle?: NodeJS.Timeout } | undefined)?.handle),
    sleep: async (ms, signal) => {
      const due = now() + ms;
      do await realClock.sleep(wall(due - now()), signal);
      while (now() < due);
    },
  };
}

interface VirtualTimer {
  due: number;
  seq: number;
  fn: () => void;
}

/** The timers of one virtual clock, and its time. */
interface VirtualTime {
  now: number;
  timers: VirtualTimer[];
}

// One driver for every virtual clock in the process. It counts the callbacks the event loop runs
// (I/O, timers, immediates, promise jobs) and moves a clock's time to its next timer only after
// the loop has gone round `settle` times with nothing but the driver's own check to run.
const pending = new Set<VirtualTime>();
let callbacks = 0;
const activity = createHook({ before: () => void callbacks++ });
let driving = false;
let quiet = 0;
let seen = -1;
let settle = 3;
let held = 0;

function drive(): void {
  if (!pending.size) {
    driving = false;
    activity.disable();
    return;
  }
  // One callback between two checks is the check itself.
  quiet = callbacks - seen <= 1 && held === 0 ? quiet + 1 : 0;
  seen = callbacks;
  setImmediate(drive);
  if (quiet < settle) return;
  quiet = 0;
  // The clock whose next timer is nearest in its own time goes first.
  let next: VirtualTime | undefined;
  for (const c of pending) if (!next || c.timers[0]!.due - c.now < next.timers[0]!.due - next.now) next = c;
  const t = next!.timers.shift()!;
  if (!next!.timers.length) pending.delete(next!);
  next!.now = Math.max(next!.now, t.due);
  t.fn();
}

function schedule(time: VirtualTime): void {
  pending.add(time);
  if (driving) return;
  driving = true;
  quiet = 0;
  seen = -1;
  activity.enable();
  setImmediate(drive);
}

/** Options of {@link virtualClock}. */
export interface VirtualClockOptions {
  /**
   * Turns of the event loop with nothing else to run before time moves on (default 3; shared by
   * every virtual clock of the process, the last one made sets it).
   */
  settleTurns?: number | undefined;
  /**
   * Where its time starts (default 1000). Fixed, not `performance.now()`: runs then compute the
   * same floating-point times and take the same branches.
   */
  startMs?: number | undefined;
}

/**
 * A discrete-event clock for tests whose every delay is emulated: time stands still while the
 * process has work to do (socket messages between the session and the emulators, parsing, audio
 * encoding) and jumps to the next timer once the event loop is idle. A call then runs as fast as
 * the CPU allows, and the same test gives the same events, in the same order, with the same times
 * and latencies, on a fast machine or a loaded one.
 *
 * Give the same one to the emulators, the scripted caller, the virtual speaker and the session.
 * Anything that waits on the wall clock (a real provider, a tool sleeping with `setTimeout`)
 * looks infinitely slow to it: use {@link acceleratedClock} or the real clock for those.
 */
export function virtualClock(options: VirtualClockOptions = {}): Clock {
  if (options.settleTurns !== undefined) settle = Math.max(1, options.settleTurns);
  const time: VirtualTime = { now: options.startMs ?? 1000, timers: [] };
  let seq = 0;
  const clock: Required<Clock> = {
    now: () => time.now,
    setTimeout: (fn, ms) => {
      const timers = time.timers;
      const t: VirtualTimer = { due: time.now + Math.max(0, ms), seq: seq++, fn };
      let i = timers.length;
      while (i > 0 && (timers[i - 1]!.due > t.due || (timers[i - 1]!.due === t.due && timers[i - 1]!.seq > t.seq))) i--;
      timers.splice(i, 0, t);
      schedule(time);
      return t;
    },
    clearTimeout: (timer) => {
      const i = time.timers.indexOf(timer as VirtualTimer);
      if (i >= 0) time.timers.splice(i, 1);
      if (!time.timers.length) pending.delete(time);
    },
    hold: (work) => {
      held++;
      const release = () => void held--;
      work.then(release, release);
      return work;
    },
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(abortReason(signal));
        const onAbort = () => {
          clock.clearTimeout(t);
          reject(abortReason(signal!));
        };
        const t = clock.setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
  return clock;
}
