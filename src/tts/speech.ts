import type { AudioFrame } from '../audio/frame';
import { readWav } from '../audio/wav';
import { ConfigError } from '../errors';

/** Turns text into speech audio. Used by the TTS emulators, the local voice and the scripted caller. */
export type Synthesizer = (text: string) => Promise<AudioFrame>;

/**
 * A voice-like tone (a 140 Hz buzz with harmonics, one syllable every ~180 ms) whose length
 * follows the text. Needs nothing; the fallback when eSpeak NG is not installed.
 */
export function toneSynthesizer(options: { sampleRate?: number | undefined; msPerChar?: number | undefined } = {}): Synthesizer {
  const rate = options.sampleRate ?? 16000;
  const msPerChar = options.msPerChar ?? 65;
  return async (text) => {
    const ms = Math.max(150, text.trim().length * msPerChar);
    const n = Math.round((ms * rate) / 1000);
    const samples = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      const t = i / rate;
      const syllable = 0.55 + 0.45 * Math.sin(2 * Math.PI * 5.5 * t);
      const edge = Math.min(1, i / (rate * 0.01), (n - i) / (rate * 0.01));
      const v = Math.sin(2 * Math.PI * 140 * t) + 0.5 * Math.sin(2 * Math.PI * 280 * t) + 0.25 * Math.sin(2 * Math.PI * 420 * t);
      samples[i] = Math.round(6000 * v * syllable * edge);
    }
    return { samples, sampleRate: rate };
  };
}

/** The parts of the eSpeak NG WebAssembly module voxline uses. */
export type ESpeakModule = {
  FS: {
    /** Reads a file from the module's in-memory file system. */
    readFile(path: string): Uint8Array;
  };
};
/** Instantiates eSpeak NG with command-line arguments. */
export type ESpeakFactory = (opts: { arguments: string[]; print?: (s: string) => void; printErr?: (s: string) => void }) => Promise<ESpeakModule>;

let espeakFactory: Promise<ESpeakFactory | undefined> | undefined;

/** Loads the optional `espeak-ng` package (eSpeak NG compiled to WebAssembly), or undefined. */
export function loadEspeak(): Promise<ESpeakFactory | undefined> {
  espeakFactory ??= import('espeak-ng').then(
    (m: { default?: unknown }) => (m.default ?? m) as ESpeakFactory,
    () => undefined,
  );
  return espeakFactory;
}

/** Options of {@link espeakSynthesizer}. */
export interface EspeakOptions {
  /** eSpeak NG voice, e.g. `en-us`, `en-gb`, `en-us+f3`. Default `en-us`. */
  voice?: string | undefined;
  /** Words per minute (default 175). */
  wordsPerMinute?: number | undefined;
  /** Pitch 0-99 (default 50). */
  pitch?: number | undefined;
}

/**
 * Real synthesised speech from eSpeak NG (the optional `espeak-ng` package, GPL-3.0, loaded only
 * when this is called). 16-bit mono at 22050 Hz. Results are cached per text; calls run one at a
 * time, each about 100 ms for a sentence.
 * @throws ConfigError when the `espeak-ng` package is not installed.
 */
export async function espeakSynthesizer(options: EspeakOptions = {}): Promise<Synthesizer> {
  const factory = await loadEspeak();
  if (!factory) throw new ConfigError('The local voice needs the optional package espeak-ng: npm install espeak-ng');
  const cache = new Map<string, Promise<AudioFrame>>();
  let queue: Promise<unknown> = Promise.resolve();
  const args = ['-v', options.voice ?? 'en-us', '-s', String(options.wordsPerMinute ?? 175), '-p', String(options.pitch ?? 50)];
  return (text) => {
    const clean = text.replace(/\s+/g, ' ').trim() || '.';
    let hit = cache.get(clean);
    if (!hit) {
      hit = queue.then(async () => {
        const es = await factory({ arguments: [...args, '-w', '/out.wav', clean], print: () => {}, printErr: () => {} });
        const wav = readWav(es.FS.readFile('/out.wav'));
        return { samples: wav.samples, sampleRate: wav.sampleRate };
      });
      queue = hit.catch(() => {});
      cache.set(clean, hit);
      if (cache.size > 500) cache.delete(cache.keys().next().value!);
    }
    return hit;
  };
}

/** Options of {@link defaultSynthesizer}. */
export interface DefaultSynthesizerOptions extends EspeakOptions {
  /** Called with a one-line note when `espeak-ng` is not installed and the tone voice speaks instead. */
  onFallback?: ((note: string) => void) | undefined;
}

/**
 * eSpeak NG when the optional `espeak-ng` package is installed, otherwise {@link toneSynthesizer}
 * (after telling `onFallback`): speech that never needs the GPL package to run.
 */
export async function defaultSynthesizer(options: DefaultSynthesizerOptions = {}): Promise<Synthesizer> {
  if (await loadEspeak()) return espeakSynthesizer(options);
  options.onFallback?.('espeak-ng is not installed: a tone voice speaks instead (npm install espeak-ng for real speech).');
  return toneSynthesizer();
}
