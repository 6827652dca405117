// Writing your own adapter: an input is any AsyncIterable<AudioFrame>; an output implements
// AudioOutput. This one sends audio to a callback and plays it on a virtual clock.
import type { AudioFrame } from 'voxline';
import { PlaybackClock, type AudioOutput } from 'voxline/adapters';

export class CallbackOutput implements AudioOutput {
  readonly sampleRate = 16000;
  private readonly clock = new PlaybackClock(this.sampleRate);
  constructor(private readonly send: (pcm: Int16Array) => void) {}
  get playedMs() { return this.clock.playedMs; }     // what the user has heard so far
  get writtenMs() { return this.clock.writtenMs; }
  async write(frame: AudioFrame) { this.clock.add(frame); this.send(frame.samples); }
  clear() { this.clock.clear(); }                    // barge-in: forget queued audio
  async drain() { await new Promise((r) => setTimeout(r, this.clock.queuedMs)); }
  async close() { this.clock.clear(); }
}

export async function* fromChunks(chunks: AsyncIterable<Buffer>, sampleRate = 16000): AsyncGenerator<AudioFrame> {
  for await (const chunk of chunks) {
    const even = chunk.subarray(0, chunk.length - (chunk.length % 2));
    yield { samples: new Int16Array(Uint8Array.from(even).buffer), sampleRate };
  }
}
