import { toneSynthesizer } from '../src/index';
import type { AudioFrame } from '../src/index';

export const RATE = 16000;

/** 20 ms frames: `leadMs` of silence, a voice-like tone of `speechMs`, then `tailMs` of silence. */
export async function utteranceFrames(speechMs: number, leadMs = 200, tailMs = 600, rate = RATE): Promise<AudioFrame[]> {
  const tone = await toneSynthesizer({ sampleRate: rate, msPerChar: 1 })('x'.repeat(Math.max(1, speechMs)));
  const total = new Int16Array(Math.round(((leadMs + tailMs) * rate) / 1000) + tone.samples.length);
  total.set(tone.samples.subarray(0, Math.round((speechMs * rate) / 1000)), Math.round((leadMs * rate) / 1000));
  const per = rate / 50;
  const frames: AudioFrame[] = [];
  for (let i = 0; i + per <= total.length; i += per) frames.push({ samples: total.slice(i, i + per), sampleRate: rate });
  return frames;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Yields frames paced in real time (20 ms apart), noting when each was sent. */
export async function* paced(frames: AudioFrame[], sentAt?: number[]): AsyncGenerator<AudioFrame> {
  const start = performance.now();
  for (let i = 0; i < frames.length; i++) {
    const due = start + i * 20;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    sentAt?.push(performance.now());
    yield frames[i]!;
  }
}

/** Collects an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
