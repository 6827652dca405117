/** Options of {@link SentenceChunker}. */
export interface ChunkerOptions {
  /**
   * The first chunk of a reply goes out early, at the first clause boundary (`,` `;` `:` `—`) or
   * once it has this many words, to cut time to first audio (default 3; 0 disables). A token that
   * ends in `,` `!` `?` after a letter ("Sure,") is sent at once, without waiting for the next
   * token; the price is that a first word with punctuation inside ("and,or") may be cut there.
   */
  firstChunkWords?: number | undefined;
  /** A chunk with no sentence end is cut at a word boundary past this length (default 220). */
  maxChunkChars?: number | undefined;
}

const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'vs', 'etc', 'eg', 'ie', 'inc', 'ltd', 'co', 'corp', 'no', 'nos', 'fig', 'approx',
  'dept', 'est', 'ave', 'blvd', 'rd', 'mt', 'ft', 'gen', 'gov', 'sen', 'rep', 'rev', 'capt', 'col', 'lt', 'sgt', 'jan', 'feb', 'mar', 'apr',
  'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'am', 'pm', 'us', 'uk', 'eu', 'al',
]);

const CLOSERS = '"\')]}»”’';

/**
 * Turns a stream of text tokens into speakable chunks: whole sentences, plus an early short first
 * clause. It never splits inside a word, and does not end a sentence at abbreviations ("Dr.",
 * "e.g.", "U.S."), decimals ("3.14"), ellipses or inside URLs.
 */
export class SentenceChunker {
  private buf = '';
  private emitted = 0;
  private readonly firstWords: number;
  private readonly maxChars: number;

  /**
   * Starts empty.
   * @param options Where chunks may be cut (defaults suit speech).
   */
  constructor(options: ChunkerOptions = {}) {
    this.firstWords = options.firstChunkWords ?? 3;
    this.maxChars = options.maxChunkChars ?? 220;
  }

  /** Adds text; returns the chunks it completes. */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    for (let cut = this.findCut(); cut > 0; cut = this.findCut()) {
      const chunk = this.buf.slice(0, cut).trim();
      this.buf = this.buf.slice(cut).replace(/^\s+/, '');
      if (chunk) {
        out.push(chunk);
        this.emitted++;
      }
    }
    return out;
  }

  /** Returns what is left (the end of the reply). */
  flush(): string[] {
    const rest = this.buf.trim();
    this.buf = '';
    if (!rest) return [];
    this.emitted++;
    return [rest];
  }

  /** Forgets buffered text and starts a new reply. */
  reset(): void {
    this.buf = '';
    this.emitted = 0;
  }

  /** Index just past the end of the next chunk, or 0 when none is complete yet. */
  private findCut(): number {
    const b = this.buf;
    // The first clause of a reply need not wait for the next token: "Sure," or "Hello!" at the end of
    // the buffer is a boundary already, unless the word could be a number, a URL or an address.
    if (this.emitted === 0 && this.firstWords > 0 && /[A-Za-z][,;:!?]$/.test(b) && !/[/.@:\d][^\s]*[,;:!?]$/.test(b)) return b.length;
    let words = 0;
    let lastSpace = -1;
    for (let i = 0; i < b.length; i++) {
      const ch = b[i]!;
      const next = b[i + 1];
      if (/\s/.test(ch)) {
        if (i > 0 && !/\s/.test(b[i - 1]!)) words++;
        lastSpace = i;
        if (ch === '\n' && next === '\n') return i;
        if (this.emitted === 0 && this.firstWords > 0 && words >= this.firstWords) return i;
        if (i >= this.maxChars) return lastSpace;
        continue;
      }
      if (ch === '!' || ch === '?' || ch === '.') {
        // A sentence ends at the whitespace after it; closing quotes or brackets may sit between.
        let j = i + 1;
        while (j < b.length && CLOSERS.includes(b[j]!)) j++;
        if (j >= b.length || !/\s/.test(b[j]!)) continue;
        if (ch !== '.' || this.isSentenceDot(b, i)) return j;
        continue;
      }
      if (this.emitted === 0 && this.firstWords > 0 && (ch === ',' || ch === ';' || ch === ':' || ch === '—') && next !== undefined && /\s/.test(next)) return i + 1;
    }
    return 0;
  }

  private isSentenceDot(b: string, i: number): boolean {
    if (b[i - 1] === '.' || b[i + 1] === '.') return false; // ellipsis
    const word = /(\S+)$/.exec(b.slice(0, i))?.[1] ?? '';
    const bare = word.replace(/^["'(\[{]+/, '');
    if (!bare) return false;
    if (/^[A-Za-z]$/.test(bare)) return false; // an initial: "J. Smith"
    if (/^([A-Za-z]\.)+[A-Za-z]$/.test(bare)) return false; // "e.g", "U.S", "a.m"
    if (ABBREVIATIONS.has(bare.toLowerCase())) return false;
    if (/^\d+$/.test(bare) && /^\s*[a-z]/.test(b.slice(i + 1))) return false; // "No. 5 in the list" style numbering
    return true;
  }
}

/** Chunks a token stream into speakable text (see {@link SentenceChunker}). */
export async function* sentences(tokens: AsyncIterable<string>, options?: ChunkerOptions): AsyncGenerator<string> {
  const chunker = new SentenceChunker(options);
  for await (const t of tokens) yield* chunker.push(t);
  yield* chunker.flush();
}
