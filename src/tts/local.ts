import { resample } from '../audio/resample';
import { assertSampleRate } from '../audio/frame';
import { AbortError } from '../errors';
import { abortable } from '../streams/channel';
import { type EspeakOptions, type Synthesizer, espeakSynthesizer } from './speech';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './types';

/** Options of {@link LocalTts}. */
export interface LocalTtsOptions extends EspeakOptions {
  /** Output sample rate (default 22050, eSpeak's own). */
  sampleRate?: number | undefined;
  /** Audio per frame, ms (default 100). */
  frameMs?: number | undefined;
}

/**
 * An offline voice: eSpeak NG running as WebAssembly in Node (the optional `espeak-ng` package,
 * GPL-3.0, loaded on first use). No key, no network; robotic, but real speech.
 */
export class LocalTts extends TtsStream {
  readonly provider = 'local';
  readonly sampleRate: number;
  private synth?: Promise<Synthesizer>;

  /** Loads nothing yet: the synthesizer starts on the first synthesis (or `warmup()`). */
  constructor(private readonly options: LocalTtsOptions = {}) {
    super();
    this.sampleRate = options.sampleRate ?? 22050;
    assertSampleRate(this.sampleRate, 'LocalTts sampleRate');
  }

  override async warmup(): Promise<void> {
    this.synth ??= espeakSynthesizer(this.options);
    await this.synth;
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    if (options.signal?.aborted) throw new AbortError('Synthesis aborted');
    this.synth ??= espeakSynthesizer(this.options);
    const synth = await this.synth;
    const per = Math.round((this.sampleRate * (this.options.frameMs ?? 100)) / 1000);
    for await (const chunk of abortable(text, options.signal)) {
      if (!chunk.trim()) continue;
      const audio = await synth(chunk);
      if (options.signal?.aborted) throw new AbortError('Synthesis aborted');
      const samples = resample(audio.samples, audio.sampleRate, this.sampleRate);
      const chars = [...`${chunk} `];
      const msPerChar = (samples.length * 1000) / this.sampleRate / chars.length;
      for (let off = 0; off < samples.length; off += per) {
        const t0 = (off * 1000) / this.sampleRate;
        const t1 = t0 + (Math.min(per, samples.length - off) * 1000) / this.sampleRate;
        const idx = chars.map((_, i) => i).filter((i) => i * msPerChar >= t0 && i * msPerChar < t1);
        yield {
          samples: samples.subarray(off, off + per),
          sampleRate: this.sampleRate,
          alignment: { chars: idx.map((i) => chars[i]!), startMs: idx.map((i) => i * msPerChar - t0), durationsMs: idx.map(() => msPerChar) },
        };
      }
    }
  }
}
