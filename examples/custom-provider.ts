// Adding a provider is one class implementing one small interface. This TTS speaks through any
// function that turns text into PCM (here the offline eSpeak NG voice).
import { espeakSynthesizer, resample, type SynthesizeOptions, type TtsFrame, type TtsStream } from 'voxline';

export class FunctionTts implements TtsStream {
  readonly provider = 'my-tts';
  readonly sampleRate = 16000;
  async *synthesize(text: AsyncIterable<string>, { signal }: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const speak = await espeakSynthesizer();
    for await (const sentence of text) {
      if (signal?.aborted) return;
      const audio = await speak(sentence);
      yield { samples: resample(audio.samples, audio.sampleRate, this.sampleRate), sampleRate: this.sampleRate };
    }
  }
}
