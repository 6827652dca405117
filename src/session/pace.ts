import type { AudioInput } from '../adapters/types';
import type { AudioFrame } from '../audio/frame';
import type { Clock } from '../streams/clock';
import { asyncIteratorOf } from '../streams/channel';

/**
 * How far (ms of audio) a session's input may run ahead of the clock, counted from its first
 * frame, before the session holds it back. A live source cannot run ahead by more than the delay of
 * its first frame: a microphone read in 256 ms chunks, a phone call's jitter stay well under it.
 */
export const MAX_INPUT_LEAD_MS = 1000;

/**
 * The input as a microphone would deliver it: a frame is passed on once the audio before it is no
 * more than `maxLeadMs` ahead of the time elapsed on `clock` since the first frame. A live source
 * is never held; a file or a pipe read at full speed is held back to real time, so the
 * conversation goes as it would on a call (on a testing clock, real time is the clock's).
 * A plain iterator: a frame that is not held costs no step of its own on the audio path. Ends the
 * input when `signal` aborts during a hold.
 */
export function paceInput(input: AudioInput, clock: Clock, signal: AbortSignal, maxLeadMs = MAX_INPUT_LEAD_MS): AsyncIterable<AudioFrame> {
  return {
    [Symbol.asyncIterator]: () => {
      const it = asyncIteratorOf(input);
      let start: number | undefined;
      let audioMs = 0;
      const done = { done: true as const, value: undefined };
      const stop = () => (it.return ? it.return().then(() => done, () => done) : Promise.resolve(done));
      return {
        next: () =>
          it.next().then((r): IteratorResult<AudioFrame> | Promise<IteratorResult<AudioFrame>> => {
            if (r.done) return r;
            const now = clock.now();
            start ??= now;
            const lead = audioMs - (now - start);
            audioMs += (r.value.samples.length * 1000) / r.value.sampleRate;
            if (lead <= maxLeadMs) return r;
            return clock.sleep(lead - maxLeadMs, signal).then(() => r, stop);
          }),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve(done)),
      };
    },
  };
}
