import { TimeoutError } from '../errors';

/** How long a TTS provider may owe audio without sending any, unless its `stallTimeoutMs` says otherwise. */
export const DEFAULT_STALL_MS = 10_000;

/**
 * The TTS providers' stall rule, in one place: while audio is owed, {@link arm} (re)starts the
 * timer; when it runs out, `onStall` gets a `TimeoutError` naming the provider and the wait.
 */
export class StallTimer {
  #timer: NodeJS.Timeout | undefined;
  /** The error it gave `onStall`, once it ran out. */
  error: TimeoutError | undefined;

  constructor(
    readonly ms: number,
    private readonly provider: string,
    private readonly onStall: (err: TimeoutError) => void,
    private readonly what = 'sent no audio',
  ) {}

  /** Starts the timer, or restarts it if it is running. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.error = new TimeoutError(`${this.provider} ${this.what} for ${this.ms} ms`, { provider: this.provider });
      this.onStall(this.error);
    }, this.ms);
  }

  /** Starts the timer unless it is already running. */
  armOnce(): void {
    if (this.#timer === undefined) this.arm();
  }

  /** Stops the timer: no audio is owed. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
