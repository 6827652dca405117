import { EventEmitter } from 'eventemitter3';
import type { AudioFrame } from './audio/frame';
import { ConfigError, VoxlineError, isAbortError } from './errors';
import { LlmStream, type LlmEvent, type RespondOptions, type ChatMessage } from './llm/types';
import { Channel } from './streams/channel';
import { SttStream, type SttEvent, type TranscribeOptions, type Transcription, shiftSttEvent } from './stt/types';
import { TtsStream, type SynthesizeOptions, type TtsFrame } from './tts/types';

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** After a switch, go back to the first provider after this long (default 60 000 ms). */
  cooldownMs?: number | undefined;
  /** Which errors switch to the next provider (default: retryable voxline errors and timeouts). */
  shouldSwitch?: ((error: unknown) => boolean) | undefined;
}

/** A move of a fallback chain from one provider to another. */
export interface FallbackSwitch {
  /** Provider name before the switch. */
  from: string;
  /** Provider name after it. */
  to: string;
  /** Why it switched; none when going back to the first provider after the cool-down. */
  error?: VoxlineError;
}

/** Events of a fallback chain. */
export interface FallbackEvents {
  /** The chain moved from one provider to another. */
  switch: [FallbackSwitch];
}

const defaultShouldSwitch = (err: unknown) => err instanceof VoxlineError && !isAbortError(err) && (err.retryable || err.code === 'timeout');

/** Shared state of a chain: which provider is current, and when to go back to the first. */
class Chain<T extends { provider: string }> extends EventEmitter<FallbackEvents> {
  private index = 0;
  private since = 0;

  constructor(readonly providers: T[], private readonly fallbackOptions: FallbackOptions) {
    super();
    if (providers.length < 1) throw new ConfigError('fallback() needs at least one provider');
  }

  /** The provider to use now (the first one again once the cool-down has passed). */
  current(): number {
    if (this.index > 0 && performance.now() - this.since >= (this.fallbackOptions.cooldownMs ?? 60_000)) {
      this.emit('switch', { from: this.providers[this.index]!.provider, to: this.providers[0]!.provider });
      this.index = 0;
    }
    return this.index;
  }

  /** Moves past provider `i` after `error`; returns the next index, or -1 when none is left. */
  next(i: number, error: unknown): number {
    if (!(this.fallbackOptions.shouldSwitch ?? defaultShouldSwitch)(error) || i + 1 >= this.providers.length) return -1;
    this.index = i + 1;
    this.since = performance.now();
    this.emit('switch', { from: this.providers[i]!.provider, to: this.providers[i + 1]!.provider, error: error as VoxlineError });
    return i + 1;
  }
}

/** A chain of STT providers: on a retryable failure the audio since the last final is replayed to the next. */
export class FallbackStt extends SttStream {
  readonly #chain: Chain<SttStream>;

  /** Chains `providers` (first preferred); {@link fallback} is the usual way to make one. */
  constructor(providers: SttStream[], options: FallbackOptions = {}) {
    super();
    this.#chain = new Chain(providers, options);
  }

  /** The providers, first preferred. */
  get providers(): readonly SttStream[] {
    return this.#chain.providers;
  }

  /** Calls `listener` on every switch between providers. */
  on(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.on(event, listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.off(event, listener);
    return this;
  }
  get provider(): string {
    return this.#chain.providers[this.#chain.current()]!.provider;
  }

  get sampleRate(): number {
    return this.#chain.providers[this.#chain.current()]!.sampleRate;
  }

  transcribe(audio: AsyncIterable<AudioFrame>, options: TranscribeOptions = {}): Transcription {
    const chain = this.#chain;
    let active: Transcription | undefined;
    let speaking = false;
    // Frames not yet covered by a final: what the next provider must hear again.
    const frames: AudioFrame[] = [];
    let base = 0; // sequence number of frames[0]
    let baseSec = 0; // seconds of audio before frames[0]
    let ended = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let stopped = false;
    void (async () => {
      try {
        for await (const f of audio) {
          if (stopped) break;
          frames.push(f);
          notify();
        }
      } catch (err) {
        failure = err;
      }
      ended = true;
      notify();
    })();
    const feed = async function* (from: number): AsyncGenerator<AudioFrame> {
      for (let seq = from; ; seq++) {
        while (seq - base >= frames.length) {
          if (failure) throw failure;
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
        }
        yield frames[Math.max(0, seq - base)]!;
      }
    };
    const events = (async function* (): AsyncGenerator<SttEvent> {
      try {
        for (let i = chain.current(); ; ) {
          const offset = baseSec;
          active = chain.providers[i]!.transcribe(feed(base), options);
          if (speaking) active.agentSpeaking?.(true);
          try {
            for await (const ev of active) {
              const shifted = shiftSttEvent(ev, offset);
              if (shifted.type === 'final') {
                while (frames.length) {
                  const d = frames[0]!.samples.length / frames[0]!.sampleRate;
                  if (baseSec + d > shifted.end + 1e-6) break;
                  baseSec += d;
                  frames.shift();
                  base++;
                }
              }
              yield shifted;
            }
            return;
          } catch (err) {
            const n = chain.next(i, err);
            if (n < 0) throw err;
            i = n;
          }
        }
      } finally {
        // The input is left at its next frame.
        stopped = ended = true;
        notify();
      }
    })();
    return Object.assign(events, {
      finalize: () => active?.finalize(),
      turnEnded: () => active?.turnEnded?.(),
      agentSpeaking: (on: boolean) => {
        speaking = on;
        active?.agentSpeaking?.(on);
      },
      close: async () => void (await active?.close?.()),
    });
  }
}

/**
 * A chain of LLMs: a retryable failure before the first event switches to the next provider with
 * the same request. After the reply has started, the error is thrown (the user has heard part of
 * it; the session's failure policy applies) and the next request starts on the next provider.
 */
export class FallbackLlm extends LlmStream {
  readonly #chain: Chain<LlmStream>;

  /** Chains `providers` (first preferred); {@link fallback} is the usual way to make one. */
  constructor(providers: LlmStream[], options: FallbackOptions = {}) {
    super();
    this.#chain = new Chain(providers, options);
  }

  /** The providers, first preferred. */
  get providers(): readonly LlmStream[] {
    return this.#chain.providers;
  }

  /** Calls `listener` on every switch between providers. */
  on(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.on(event, listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.off(event, listener);
    return this;
  }
  get provider(): string {
    return this.#chain.providers[this.#chain.current()]!.provider;
  }

  get model(): string {
    return this.#chain.providers[this.#chain.current()]!.model;
  }

  get instructions(): string | undefined {
    return this.#chain.providers[this.#chain.current()]!.instructions;
  }

  async *respond(history: readonly ChatMessage[], options: RespondOptions = {}): AsyncGenerator<LlmEvent> {
    for (let i = this.#chain.current(); ; ) {
      let started = false;
      try {
        for await (const ev of this.#chain.providers[i]!.respond(history, options)) {
          started = true;
          yield ev;
        }
        return;
      } catch (err) {
        const n = this.#chain.next(i, err);
        if (n < 0 || started) throw err;
        i = n;
      }
    }
  }
}

/**
 * A chain of TTS providers: on a retryable failure the text not yet spoken (by the alignment, or
 * all of it when the provider sends none) is sent to the next provider, and the audio goes on.
 */
export class FallbackTts extends TtsStream {
  readonly #chain: Chain<TtsStream>;

  /** Chains `providers` (first preferred); {@link fallback} is the usual way to make one. */
  constructor(providers: TtsStream[], options: FallbackOptions = {}) {
    super();
    this.#chain = new Chain(providers, options);
  }

  /** The providers, first preferred. */
  get providers(): readonly TtsStream[] {
    return this.#chain.providers;
  }

  /** Calls `listener` on every switch between providers. */
  on(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.on(event, listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off(event: 'switch', listener: (s: FallbackSwitch) => void): this {
    this.#chain.off(event, listener);
    return this;
  }
  get provider(): string {
    return this.#chain.providers[this.#chain.current()]!.provider;
  }

  /** The first provider's rate; frames from others keep their own rate (the session resamples). */
  get sampleRate(): number {
    return this.#chain.providers[0]!.sampleRate;
  }

  override async warmup(): Promise<void> {
    await this.#chain.providers[this.#chain.current()]!.warmup?.();
  }

  override async close(): Promise<void> {
    await Promise.all(this.#chain.providers.map((p) => p.close?.()));
  }

  async *synthesize(text: AsyncIterable<string>, options: SynthesizeOptions = {}): AsyncGenerator<TtsFrame> {
    // Keep every chunk so that a new provider can be given what the failed one did not say.
    const chunks: string[] = [];
    const fresh = new Channel<string>(Infinity);
    void (async () => {
      try {
        for await (const c of text) {
          chunks.push(c);
          fresh.offer(c);
        }
        fresh.close();
      } catch (err) {
        fresh.fail(err);
      }
    })();
    const it = fresh[Symbol.asyncIterator]();
    let consumed = 0; // chunks handed to a provider so far
    let spoken = 0; // characters spoken, by the alignment
    for (let i = this.#chain.current(); ; ) {
      const from = spoken;
      const replay = (async function* () {
        // The unspoken part of the chunks already taken, then the new ones.
        const taken = chunks.slice(0, consumed).join(' ');
        const rest = taken.slice(Math.min(from, taken.length)).trim();
        if (rest) yield rest;
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          consumed++;
          yield r.value;
        }
      })();
      try {
        for await (const frame of this.#chain.providers[i]!.synthesize(replay, options)) {
          if (frame.alignment) spoken += frame.alignment.chars.length;
          yield frame;
        }
        return;
      } catch (err) {
        const n = this.#chain.next(i, err);
        if (n < 0) throw err;
        i = n;
      }
    }
  }
}

/** Falls back to the next STT provider when one fails. */
export function fallback(providers: SttStream[], options?: FallbackOptions): FallbackStt;
/** Falls back to the next LLM when one fails. */
export function fallback(providers: LlmStream[], options?: FallbackOptions): FallbackLlm;
/** Falls back to the next TTS provider when one fails. */
export function fallback(providers: TtsStream[], options?: FallbackOptions): FallbackTts;
/**
 * A chain of providers of one stage: when one fails with a retryable error or times out,
 * mid-session, the next takes over without losing the user's audio or the reply's text; after
 * `cooldownMs` the first is tried again. `on('switch', ...)` reports every switch.
 */
export function fallback(providers: (SttStream | LlmStream | TtsStream)[], options: FallbackOptions = {}): FallbackStt | FallbackLlm | FallbackTts {
  const first = providers[0];
  if (!first) throw new ConfigError('fallback() needs at least one provider');
  if ('transcribe' in first) return new FallbackStt(providers as SttStream[], options);
  if ('respond' in first) return new FallbackLlm(providers as LlmStream[], options);
  if ('synthesize' in first) return new FallbackTts(providers as TtsStream[], options);
  throw new ConfigError('fallback() takes SttStream, LlmStream or TtsStream providers');
}
