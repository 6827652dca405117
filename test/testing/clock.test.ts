import { describe, expect, it } from 'vitest';
import { realClock } from '../../src/index';
import { virtualSpeaker } from '../../src/adapters/index';
import { acceleratedClock } from '../../src/testing/index';

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
