import { createHmac } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { espeakSynthesizer, resample, toneSynthesizer, writeWav } from '../src/index';
import type { AudioFrame, TtsFrame, TtsStream } from '../src/index';

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

/** Twilio's `X-Twilio-Signature` of a request to `url` with these POST parameters. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string> = {}): string {
  const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', authToken).update(data).digest('base64');
}

/** A TCP port free on 127.0.0.1 a moment ago. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

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

/** One synthesis seen by {@link spyTts}: the chunks sent and the frames returned. */
export interface SpiedReply {
  chunks: string[];
  frames: TtsFrame[];
}

/** Wraps a TTS to record, per synthesis, the chunks it is sent and the frames it returns. */
export function spyTts(tts: TtsStream): { tts: TtsStream; replies: SpiedReply[] } {
  const replies: SpiedReply[] = [];
  const spy: TtsStream = {
    provider: tts.provider,
    sampleRate: tts.sampleRate,
    async *synthesize(text, options) {
      const reply: SpiedReply = { chunks: [], frames: [] };
      replies.push(reply);
      const seen = (async function* () { for await (const c of text) { reply.chunks.push(c); yield c; } })();
      for await (const f of tts.synthesize(seen, options)) { reply.frames.push(f); yield f; }
    },
    warmup: () => tts.warmup?.() ?? Promise.resolve(),
    close: () => tts.close?.() ?? Promise.resolve(),
  };
  return { tts: spy, replies };
}

/**
 * The text played in the first `playedMs` of a reply (spaces collapsed): by the provider's
 * alignment if it sent one, else at `msPerChar` per character of each chunk (the tone voice).
 */
export function playedText(reply: SpiedReply, playedMs: number, msPerChar = 65): string {
  let text = '';
  if (reply.frames.some((f) => f.alignment)) {
    let at = 0;
    for (const f of reply.frames) {
      f.alignment?.chars.forEach((c, i) => { if (at + f.alignment!.startMs[i]! < playedMs) text += c; });
      at += (f.samples.length * 1000) / f.sampleRate;
    }
  } else {
    let left = playedMs;
    for (const c of reply.chunks) {
      const ms = Math.max(150, c.trim().length * msPerChar);
      if (left >= ms) { text += `${c} `; left -= ms; } else { text += c.slice(0, Math.floor(left / msPerChar)); break; }
    }
  }
  return text.replace(/\s+/g, ' ');
}

/**
 * Chromium's flags for a headless browser test with `wav` as the microphone (Debian's chromium,
 * no network, no prompts).
 */
export const chromiumArgs = (wav: string): string[] => [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required',
];

/** Writes a 16 kHz WAV for a fake microphone: a second of silence, `text` spoken by eSpeak NG, then `tailSec` of silence. */
export async function micWav(path: string, text: string, tailSec: number): Promise<string> {
  const said = await (await espeakSynthesizer())(text);
  const pcm = resample(said.samples, said.sampleRate, 16000);
  const mic = new Int16Array(16000 + pcm.length + 16000 * tailSec);
  mic.set(pcm, 16000);
  writeFileSync(path, writeWav(mic, 16000));
  return path;
}
