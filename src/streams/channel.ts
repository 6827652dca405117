import { AbortError } from '../errors';

/**
 * A bounded async queue. Producers `await push()`, which waits while the channel is full
 * (backpressure); one consumer iterates it with `for await`. `close()` ends the iteration after
 * the queued items; `fail(err)` makes the consumer throw `err` after the queued items.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private closed = false;
  private error: unknown;
  private hasError = false;
  private readerWake: (() => void) | undefined;
  private writerWakes: (() => void)[] = [];
  private iterating = false;

  /** @param capacity how many items may wait before `push` blocks (at least 1). */
  constructor(readonly capacity = 16) {}

  /** Items queued and not yet consumed. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** True once `close` or `fail` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds an item, waiting while the channel is full. Returns false if the channel is closed. */
  async push(item: T): Promise<boolean> {
    while (!this.closed && this.size >= this.capacity) {
      await new Promise<void>((resolve) => this.writerWakes.push(resolve));
    }
    if (this.closed) return false;
    this.items.push(item);
    this.wakeReader();
    return true;
  }

  /**
   * Adds an item without waiting. Returns false, and adds nothing, when the channel is closed or
   * full (`size` has reached `capacity`): the caller decides what a full channel means (drop the
   * item, fail the stream, slow the source). A channel made with `Infinity` never refuses.
   */
  offer(item: T): boolean {
    if (this.closed || this.size >= this.capacity) return false;
    this.items.push(item);
    this.wakeReader();
    return true;
  }

  /** Ends the stream once the queued items are consumed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeReader();
    this.wakeWriters();
  }

  /** Ends the stream with an error, thrown to the consumer after the queued items. */
  fail(err: unknown): void {
    if (this.closed) return;
    this.error = err;
    this.hasError = true;
    this.close();
  }

  /** Drops every queued item (used on barge-in). */
  drain(): void {
    this.items.length = 0;
    this.head = 0;
    this.wakeWriters();
  }

  private wakeReader(): void {
    const wake = this.readerWake;
    this.readerWake = undefined;
    wake?.();
  }

  private wakeWriters(): void {
    const wakes = this.writerWakes;
    this.writerWakes = [];
    for (const w of wakes) w();
  }

  private shift(): T {
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    if (this.writerWakes.length) this.wakeWriters();
    return item;
  }

  /** Iterates the items; one consumer only. Leaving the loop closes the channel. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new Error('Channel can only be iterated once');
    this.iterating = true;
    try {
      for (;;) {
        if (this.size > 0) {
          yield this.shift();
          continue;
        }
        if (this.closed) {
          if (this.hasError) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.readerWake = resolve));
      }
    } finally {
      // The consumer left (break, throw or end): release producers.
      this.closed = true;
      this.items.length = 0;
      this.head = 0;
      this.wakeWriters();
    }
  }
}

/** Throws {@link AbortError} (or the signal's reason if it is an Error) when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** The error to throw for an aborted signal. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error && signal.reason.name !== 'AbortError' ? signal.reason : new AbortError();
}

/**
 * Iterates `source` until `signal` aborts; an abort throws {@link AbortError} at once, even while
 * waiting for the next item, and calls the source's `return()` so it runs its cleanup. Like an
 * async generator it starts on the first `next()`, and ends the source when the consumer leaves
 * (`break`, `return()`, `throw()`); unlike one, it adds no steps of its own to each item (it sits
 * on every audio path). One `next()` at a time, as `for await` and `yield*` call it.
 */
export function abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncIterableIterator<T> {
  return signal ? new Abortable(source, signal) : passThrough(source);
}

/**
 * The async iterator of `source`, as `for await` gets it: a plain (sync) iterable, which callers
 * outside TypeScript may pass, is iterated as an async one.
 */
export function asyncIteratorOf<T>(source: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  return (async function* () {
    yield* source;
  })();
}

/** `source` as an iterable iterator that gets its iterator on the first call. */
function passThrough<T>(source: AsyncIterable<T>): AsyncIterableIterator<T> {
  let it: AsyncIterator<T> | undefined;
  let closed = false;
  const done = (value?: unknown) => Promise.resolve({ done: true as const, value: value as T });
  const self: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => self,
    next: () => {
      if (closed) return done();
      try {
        return (it ??= asyncIteratorOf(source)).next();
      } catch (err) {
        closed = true;
        return Promise.reject(err);
      }
    },
    return: (value?: unknown) => {
      closed = true;
      return it?.return ? it.return(value) : done(value);
    },
    throw: (err?: unknown) => {
      closed = true;
      return it?.throw ? it.throw(err) : Promise.reject(err);
    },
  };
  return self;
}

/** See {@link abortable}. */
class Abortable<T> implements AsyncIterableIterator<T> {
  private it: AsyncIterator<T> | undefined;
  private over = false;
  /** Rejects the pending `next()`, if any. One listener for the whole iteration: racing each
   * `next()` against one never-settling promise would keep every item alive until the end. */
  private reject: ((err: Error) => void) | undefined;
  private readonly onAbort = (): void => {
    // Between items, the next `next()` sees the aborted signal and throws.
    const reject = this.reject;
    if (!reject) return;
    this.end(true);
    reject(abortReason(this.signal));
  };

  constructor(
    private readonly source: AsyncIterable<T>,
    private readonly signal: AbortSignal,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.over) return Promise.resolve({ done: true, value: undefined });
    if (this.signal.aborted) {
      this.end(true);
      return Promise.reject(abortReason(this.signal));
    }
    let pending: Promise<IteratorResult<T>>;
    try {
      if (!this.it) {
        this.it = asyncIteratorOf(this.source);
        this.signal.addEventListener('abort', this.onAbort, { once: true });
      }
      pending = Promise.resolve(this.it.next());
    } catch (err) {
      // A source that throws at once ends like one that rejects.
      this.end(true);
      return Promise.reject(err);
    }
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.reject = reject;
      pending.then(
        (r) => {
          this.reject = undefined;
          if (r.done) this.end(false);
          resolve(r);
        },
        (err: unknown) => {
          this.reject = undefined;
          this.end(true);
          reject(err);
        },
      );
    });
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    this.end(true);
    return Promise.resolve({ done: true, value: value as T });
  }

  throw(err?: unknown): Promise<IteratorResult<T>> {
    this.end(true);
    return Promise.reject(err);
  }

  /** Ends the iteration once: the listener goes, and the source is ended unless it ended itself. */
  private end(endSource: boolean): void {
    if (this.over) return;
    this.over = true;
    this.reject = undefined;
    this.signal.removeEventListener('abort', this.onAbort);
    const it = this.it;
    if (endSource && it?.return) {
      try {
        void Promise.resolve(it.return()).catch(() => {});
      } catch {
        // A source whose return() throws has nothing left to clean up.
      }
    }
  }
}

/** Interleaves several async iterables, yielding items as they come. Ends when all have ended. */
export async function* merge<T>(...sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const pull = (i: number) => pending.set(i, iterators[i]!.next().then((r) => ({ i, r })));
  iterators.forEach((_, i) => pull(i));
  try {
    while (pending.size) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pull(i);
      yield r.value;
    }
  } finally {
    for (const i of pending.keys()) void Promise.resolve(iterators[i]!.return?.()).catch(() => {});
  }
}

/**
 * Splits one async iterable into `n` that each see every item. A slow branch slows the source
 * (each branch buffers up to `capacity` items); a branch that stops early no longer holds it back.
 */
export function tee<T>(source: AsyncIterable<T>, n = 2, capacity = 16): Channel<T>[] {
  const branches = Array.from({ length: n }, () => new Channel<T>(capacity));
  void (async () => {
    try {
      for await (const item of source) {
        const open = branches.filter((b) => !b.isClosed);
        if (!open.length) break;
        await Promise.all(open.map((b) => b.push(item)));
      }
      for (const b of branches) b.close();
    } catch (err) {
      for (const b of branches) b.fail(err);
    }
  })();
  return branches;
}

/** Resolves after `ms`, or rejects with an abort error when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An abort controller that also aborts when `parent` does. `dispose()` detaches it from the parent. */
export function linkedAbort(parent?: AbortSignal): AbortController & {
  /** Detaches from the parent signal. */
  dispose(): void;
} {
  const ac = new AbortController() as AbortController & { dispose(): void };
  const onAbort = () => ac.abort(parent!.reason);
  if (parent?.aborted) ac.abort(parent.reason);
  else parent?.addEventListener('abort', onAbort, { once: true });
  ac.dispose = () => parent?.removeEventListener('abort', onAbort);
  return ac;
}
