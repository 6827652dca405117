// Adding a provider is one class implementing one small interface. This TTS speaks through any
// function that turns text into PCM (here the offline eSpeak NG voice, or a tone voice when espeak-ng is not installed).
import { defaultSynthesizer, resample, type SynthesizeOptions, type TtsFrame, type TtsStream } from 'voxline';

const voice = defaultSynthesizer({ onFallback: console.log }); // eSpeak NG, or a tone voice without it

export class FunctionTts implements TtsStream {
  readonly provider = 'my-tts';
  readonly sampleRate = 16000;
  async *synthesize(text: AsyncIterable<string>, { signal }: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    const speak = await voice;
    for await (const sentence of text) {
      if (signal?.aborted) return;
      const audio = await speak(sentence);
      yield { samples: resample(audio.samples, audio.sampleRate, this.sampleRate), sampleRate: this.sampleRate };
    }
  }
}
