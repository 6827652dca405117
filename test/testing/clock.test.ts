import { describe, expect, it } from 'vitest';
import { realClock } from '../../src/streams/clock';
import { virtualSpeaker } from '../../src/adapters/index';
import { acceleratedClock, virtualClock } from '../../src/testing/index';

describe('acceleratedClock', () => {
  it('runs its timers and sleeps in its own time, in order, faster than the wall clock', async () => {
    const clock = acceleratedClock(20);
    const t0 = clock.now();
    const real0 = performance.now();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 400);
    clock.setTimeout(() => fired.push('a'), 200);
    const cancelled = clock.setTimeout(() => fired.push('never'), 300);
    clock.clearTimeout(cancelled);
    clock.clearTimeout(undefined);
    await clock.sleep(600);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(600);
    // 600 ms of clock time at speed 20 is 30 ms of wall time; allow a loaded machine ten times that.
    expect(performance.now() - real0).toBeLessThan(300);
    const ac = new AbortController();
    const sleeping = clock.sleep(10_000, ac.signal);
    ac.abort();
    await expect(sleeping).rejects.toThrow();
    expect(() => acceleratedClock(0)).toThrow(RangeError);
  });

  it('never fires a timer or ends a sleep before its time on the clock (Node timers may fire a millisecond early)', async () => {
    const clock = acceleratedClock(50);
    const early: number[] = [];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const ms = 3 + i * 7.3;
        const due = clock.now() + ms;
        return Promise.all([
          new Promise<void>((resolve) => clock.setTimeout(() => (clock.now() < due && early.push(due - clock.now()), resolve()), ms)),
          clock.sleep(ms).then(() => void (clock.now() < due && early.push(due - clock.now()))),
        ]);
      }),
    );
    expect(early).toEqual([]);
    // A delay beyond Node's longest timer waits (it does not fire after 1 ms, again and again).
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    let fired = false;
    const never = clock.setTimeout(() => (fired = true), Number.POSITIVE_INFINITY);
    const ac = new AbortController();
    const sleeping = clock.sleep(1e15, ac.signal);
    await new Promise((r) => setTimeout(r, 60));
    ac.abort();
    await expect(sleeping).rejects.toThrow();
    clock.clearTimeout(never);
    process.off('warning', onWarning);
    expect(fired).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('paces a virtual speaker in its time: played and queued audio are measured on the clock', async () => {
    const clock = acceleratedClock(20);
    const speaker = virtualSpeaker({ clock, bufferMs: 100 });
    const start = clock.now();
    for (let i = 0; i < 50; i++) await speaker.write({ samples: new Int16Array(320), sampleRate: 16000 }); // 1 s of audio
    await speaker.drain();
    expect(clock.now() - start).toBeGreaterThanOrEqual(990);
    expect(speaker.writtenMs).toBe(1000);
    expect(speaker.playedMs).toBeGreaterThan(950);
    speaker.clear();
    expect(speaker.clears[0]).toBeGreaterThanOrEqual(start + 990);
    expect(realClock.now()).toBeLessThan(speaker.clears[0]!); // the clock runs ahead of the wall clock
    await speaker.close();
  });
});

describe('virtualClock', () => {
  it('stands still while the process works and jumps to the next timer when it is idle', async () => {
    const clock = virtualClock();
    const t0 = clock.now();
    expect(t0).toBe(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['late', clock.now() - t0]), 60_000);
    clock.setTimeout(() => fired.push(['early', clock.now() - t0]), 250);
    clock.setTimeout(() => fired.push(['same time, set first', clock.now() - t0]), 500);
    clock.setTimeout(() => fired.push(['same time, set second', clock.now() - t0]), 500);
    clock.clearTimeout(clock.setTimeout(() => fired.push(['cancelled', 0]), 100));
    // While the process has work to do, however long it takes, the clock stands still.
    for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(clock.now()).toBe(t0);
    const real0 = performance.now();
    await clock.sleep(70_000);
    expect(fired).toEqual([['early', 250], ['same time, set first', 500], ['same time, set second', 500], ['late', 60_000]]);
    expect(clock.now() - t0).toBe(70_000);
    expect(performance.now() - real0).toBeLessThan(5_000); // 70 s of clock time, at once
    const ac = new AbortController();
    const sleeping = clock.sleep(1000, ac.signal);
    ac.abort();
    await expect(sleeping).rejects.toThrow();
  });

  it('drives several clocks at once, each in its own time', async () => {
    const a = virtualClock();
    const b = virtualClock({ startMs: 0 });
    await Promise.all([a.sleep(1000), b.sleep(5000), a.sleep(3000)]);
    expect(a.now()).toBe(4000);
    expect(b.now()).toBe(5000);
  });
});
