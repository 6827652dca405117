import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SentenceChunker, sentences } from '../../src/index';

/** Feeds text in small token-like pieces, as an LLM streams it. */
function chunk(text: string, opts?: ConstructorParameters<typeof SentenceChunker>[0], size = 3): string[] {
  const c = new SentenceChunker(opts);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...c.push(text.slice(i, i + size)));
  out.push(...c.flush());
  return out;
}

describe('SentenceChunker', () => {
  const plain = { firstChunkWords: 0 };
  it('splits sentences', () => {
    expect(chunk('Hello there. How are you? Great!', plain)).toEqual(['Hello there.', 'How are you?', 'Great!']);
  });
  it.each([
    ['Dr. Smith will see you now. Next please.', ['Dr. Smith will see you now.', 'Next please.']],
    ['Bring ID, e.g. a passport. Thanks.', ['Bring ID, e.g. a passport.', 'Thanks.']],
    ['Pi is 3.14 exactly. Yes.', ['Pi is 3.14 exactly.', 'Yes.']],
    ['She moved to the U.S. last year. Nice.', ['She moved to the U.S. last year.', 'Nice.']],
    ['Well... I suppose so. Fine.', ['Well... I suppose so.', 'Fine.']],
    ['Go to https://example.com/a.b?c=1 now. Bye.', ['Go to https://example.com/a.b?c=1 now.', 'Bye.']],
    ['Visit example.com. It is great.', ['Visit example.com.', 'It is great.']],
    ['J. R. R. Tolkien wrote it. True.', ['J. R. R. Tolkien wrote it.', 'True.']],
    ['He said "stop." Then left.', ['He said "stop."', 'Then left.']],
    ['It costs $1,000.50 today. Ok.', ['It costs $1,000.50 today.', 'Ok.']],
  ])('does not split %j in the wrong place', (text, expected) => {
    expect(chunk(text, plain)).toEqual(expected);
    expect(chunk(text, plain, 1)).toEqual(expected);
  });
  it('sends a short first clause early, then whole sentences', () => {
    expect(chunk('Sure, I can help with that. It will take a moment.')).toEqual(['Sure,', 'I can help with that.', 'It will take a moment.']);
    expect(chunk('Your order shipped yesterday and arrives soon.')).toEqual(['Your order shipped', 'yesterday and arrives soon.']);
  });
  it('emits the first clause as soon as its boundary is seen', () => {
    const c = new SentenceChunker();
    expect(c.push('Sure')).toEqual([]);
    expect(c.push(',')).toEqual(['Sure,']); // no need to wait for the next token
    expect(c.push(' I can')).toEqual([]);
    const n = new SentenceChunker();
    expect(n.push('It costs 3,')).toEqual([]); // a number may go on: "3,000"
    expect(n.push('000 dollars')).toEqual(['It costs 3,000']);
  });
  it('cuts a very long sentence at a word boundary', () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ') + '.';
    const parts = chunk(long, { firstChunkWords: 0, maxChunkChars: 100 });
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.join(' ')).toBe(long);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(110);
  });
  it('never loses or splits a word (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom('Dr.', 'e.g.', '3.14', '...', 'U.S.', 'Hi!', 'why?', 'ok,', 'x.com', '\n\n'), fc.stringMatching(/^[a-zA-Z0-9.,!?'"-]{1,8}$/)), { maxLength: 40 }), fc.integer({ min: 1, max: 7 }), (words, size) => {
        const text = words.join(' ');
        const words0 = text.split(/\s+/).filter(Boolean);
        const strict = chunk(text, { firstChunkWords: 0 }, size);
        expect(strict.join(' ').split(/\s+/).filter(Boolean)).toEqual(words0);
        for (const p of strict) expect(p.trim()).toBe(p);
        // With the early first clause, a "word" with punctuation inside ("ok,x") may be cut after
        // the punctuation; nothing is ever lost.
        const early = chunk(text, undefined, size);
        expect(early.join('').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
      }),
    );
  });
  it('works on async token streams', async () => {
    async function* tokens() { yield* ['Hello', ' there', '.', ' Bye', '.']; }
    const out: string[] = [];
    for await (const s of sentences(tokens(), { firstChunkWords: 0 })) out.push(s);
    expect(out).toEqual(['Hello there.', 'Bye.']);
  });
});
