import { describe, expect, it } from 'vitest';
import { AbortError, merge } from '../../src/index';
import { tee } from '../../src/streams/channel';
import { Channel, abortable, sleep } from '../../src/streams/channel';

describe('Channel', () => {
  it('applies backpressure: push waits while full', async () => {
    const ch = new Channel<number>(2);
    await ch.push(1);
    await ch.push(2);
    let third = false;
    const p = ch.push(3).then(() => (third = true));
    await sleep(10);
    expect(third).toBe(false);
    const it = ch[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    await p;
    expect(third).toBe(true);
  });
  it('closes after queued items and propagates errors', async () => {
    const ch = new Channel<number>(4);
    await ch.push(1);
    ch.fail(new Error('boom'));
    const seen: number[] = [];
    await expect((async () => { for await (const x of ch) seen.push(x); })()).rejects.toThrow('boom');
    expect(seen).toEqual([1]);
    expect(await ch.push(2)).toBe(false);
  });
  it('releases blocked producers when the consumer breaks out', async () => {
    const ch = new Channel<number>(1);
    void ch.push(1);
    const second = ch.push(2);
    const third = ch.push(3);
    for await (const _ of ch) break;
    expect(await second).toBe(true); // accepted when the first item was taken
    expect(await third).toBe(false); // refused: the consumer is gone
  });
});

describe('abortable', () => {
  it('aborts while waiting and runs the source cleanup', async () => {
    let cleaned = false;
    const ac = new AbortController();
    async function* slow() { try { yield 1; await sleep(10_000, ac.signal); yield 2; } finally { cleaned = true; } }
    const seen: number[] = [];
    setTimeout(() => ac.abort(), 20);
    await expect((async () => { for await (const x of abortable(slow(), ac.signal)) seen.push(x); })()).rejects.toBeInstanceOf(AbortError);
    expect(seen).toEqual([1]);
    await sleep(5);
    expect(cleaned).toBe(true);
  });
  it('throws on the next item when the signal aborts between items, once, then ends', async () => {
    let cleaned = false;
    const ac = new AbortController();
    async function* src() { try { for (let i = 0; ; i++) yield i; } finally { cleaned = true; } }
    const it = abortable(src(), ac.signal);
    expect(await it.next()).toEqual({ done: false, value: 0 });
    ac.abort();
    await expect(it.next()).rejects.toBeInstanceOf(AbortError);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await sleep(1);
    expect(cleaned).toBe(true);
  });
  it('passes a source error on and ends the source; nothing runs before the first next()', async () => {
    let started = false;
    const ac = new AbortController();
    async function* bad() { started = true; yield 1; throw new Error('boom'); }
    const it = abortable(bad(), ac.signal);
    await sleep(1);
    expect(started).toBe(false);
    expect((await it.next()).value).toBe(1);
    await expect(it.next()).rejects.toThrow('boom');
    expect(await it.next()).toEqual({ done: true, value: undefined });
    ac.abort(); // no listener left to throw from
    const aborted = new AbortController();
    aborted.abort();
    await expect(abortable(bad(), aborted.signal).next()).rejects.toBeInstanceOf(AbortError);
  });
  it('a source that throws at once (not a rejection) ends like one that rejects: no listener left, its return() called', async () => {
    const signal = new AbortController().signal;
    let listeners = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
    signal.removeEventListener = ((...a: Parameters<typeof remove>) => (listeners--, remove(...a))) as typeof remove;
    let returned = 0;
    const source = { [Symbol.asyncIterator]: () => ({ next: (): Promise<IteratorResult<number>> => { throw new Error('sync boom'); }, return: async () => (returned++, { done: true as const, value: undefined }) }) };
    const it = abortable(source, signal);
    await expect(it.next()).rejects.toThrow('sync boom');
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(listeners).toBe(0);
    expect(returned).toBe(1);
  });
  it('takes a plain iterable too, as for await does, with and without a signal; return() before the first next() ends it', async () => {
    const plain = [1, 2, 3] as unknown as AsyncIterable<number>;
    const seen: number[] = [];
    for await (const x of abortable(plain, new AbortController().signal)) seen.push(x);
    for await (const x of abortable(plain, undefined)) seen.push(x);
    expect(seen).toEqual([1, 2, 3, 1, 2, 3]);
    let started = false;
    async function* src() { started = true; yield 1; }
    const it = abortable(src(), undefined);
    await it.return!();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(started).toBe(false);
  });
  it('runs cleanup when the consumer breaks out', async () => {
    let cleaned = false;
    async function* src() { try { for (let i = 0; ; i++) yield i; } finally { cleaned = true; } }
    for await (const x of abortable(src(), new AbortController().signal)) if (x === 3) break;
    await sleep(1);
    expect(cleaned).toBe(true);
  });
});

describe('merge and tee', () => {
  it('merges in arrival order and ends when all end', async () => {
    async function* a() { await sleep(5); yield 'a1'; await sleep(20); yield 'a2'; }
    async function* b() { yield 'b1'; await sleep(12); yield 'b2'; }
    const out: string[] = [];
    for await (const x of merge(a(), b())) out.push(x);
    expect(out).toEqual(['b1', 'a1', 'b2', 'a2']);
  });
  it('tees every item to each branch', async () => {
    async function* src() { for (let i = 0; i < 50; i++) yield i; }
    const [x, y] = tee(src(), 2, 4);
    const collect = async (c: AsyncIterable<number>) => { const r: number[] = []; for await (const v of c) r.push(v); return r; };
    const [rx, ry] = await Promise.all([collect(x!), collect(y!)]);
    expect(rx).toEqual(ry);
    expect(rx.length).toBe(50);
  });
});
