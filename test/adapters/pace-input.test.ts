import { describe, expect, it } from 'vitest';
import type { AudioFrame, Clock } from '../../src/index';
import { MAX_INPUT_LEAD_MS, paceInput } from '../../src/session/pace';
import { virtualClock } from '../../src/testing/index';

// How a session takes its input: a live source is never held; one faster than real time is held
// back to at most MAX_INPUT_LEAD_MS ahead of the clock.
const frame = (): AudioFrame => ({ samples: new Int16Array(320), sampleRate: 16000 }); // 20 ms

/** When each frame came out of `paceInput`, in ms of `clock` since the first. */
async function passTimes(clock: Clock, source: AsyncIterable<AudioFrame>, signal = new AbortController().signal): Promise<number[]> {
  const out: number[] = [];
  let t0: number | undefined;
  for await (const _ of paceInput(source, clock, signal)) {
    t0 ??= clock.now();
    out.push(clock.now() - t0);
  }
  return out;
}

describe('paceInput', () => {
  it('never holds a live source: a microphone read in 240 ms chunks, a call that stalled then caught up', async () => {
    const clock = virtualClock();
    const sentAt: number[] = [];
    let t0 = 0;
    async function* mic() {
      t0 = clock.now();
      for (let chunk = 0; chunk < 20; chunk++) {
        await clock.sleep(240); // the chunk is captured, then read at once: 12 frames
        for (let i = 0; i < 12; i++) {
          sentAt.push(clock.now() - t0);
          yield frame();
        }
      }
      await clock.sleep(2000); // a network stall: the frames of those 2 s arrive late, at once
      for (let i = 0; i < 100; i++) {
        sentAt.push(clock.now() - t0);
        yield frame();
      }
    }
    const passed = await passTimes(clock, mic());
    expect(passed).toHaveLength(340);
    // Each frame passes when it arrives (times relative to the first frame, which came at 240 ms).
    expect(passed).toEqual(sentAt.map((t) => t - 240));
  });

  it('holds a source faster than real time to at most a second ahead of the clock', async () => {
    const clock = virtualClock();
    async function* file() {
      for (let i = 0; i < 250; i++) yield frame(); // 5 s of audio, read at once
    }
    const passed = await passTimes(clock, file());
    expect(passed).toHaveLength(250);
    passed.forEach((t, i) => {
      const audioBefore = i * 20;
      expect(audioBefore - t).toBeLessThanOrEqual(MAX_INPUT_LEAD_MS + 1e-6); // never more than the lead ahead
      if (audioBefore > MAX_INPUT_LEAD_MS) expect(audioBefore - t).toBeCloseTo(MAX_INPUT_LEAD_MS, 6); // and held only to it
    });
    expect(passed.at(-1)).toBeCloseTo(249 * 20 - MAX_INPUT_LEAD_MS, 6);
  });

  it('ends the input, closing the source, when the session stops during a hold', async () => {
    const clock = virtualClock();
    let closed = false;
    async function* file() {
      try {
        for (;;) yield frame();
      } finally {
        closed = true;
      }
    }
    const stop = new AbortController();
    clock.setTimeout(() => stop.abort(), 3000);
    const passed = await passTimes(clock, file(), stop.signal);
    expect(passed.at(-1)).toBeLessThanOrEqual(3000);
    expect(passed.length).toBeGreaterThan(190);
    expect(closed).toBe(true);
  });
});
