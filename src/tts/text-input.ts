/**
 * Turns the items given to a TTS `synthesize()` into text to send, without splitting words.
 *
 * Whole chunks as `sentences()` yields them (trimmed: no space at either end) are sent at once
 * with one space after, as providers ask. Raw LLM tokens carry their own spaces (`"Your"`,
 * `" orde"`, `"r"`): once an item starts or ends with whitespace the input is taken to be tokens,
 * and text is sent up to its last whitespace, a word split across tokens held until it is whole.
 * A first token that splits a word without any space (`"Yo"`, `"ur"`) cannot be told from two
 * chunks, and is spoken as two words.
 */
export class TextInput {
  private held = '';
  private tokens = false;
  private endsInSpace = true;

  /** True once the items are taken for raw tokens; until then each item is a whole chunk. */
  get raw(): boolean {
    return this.tokens;
  }

  /** Adds one item; returns the text to send now ('' when nothing is complete). */
  push(item: string): string {
    if (!item) return '';
    if (/^\s|\s$/.test(item)) this.tokens = true;
    if (!this.tokens) return this.emit(`${item} `);
    const text = this.held + item;
    const cut = text.search(/\s\S*$/) + 1;
    if (cut === 0) {
      this.held = text;
      return '';
    }
    this.held = text.slice(cut);
    return this.emit(text.slice(0, cut));
  }

  /** The text still held at the end of the input, with its closing space ('' when none). */
  end(): string {
    const rest = this.held;
    this.held = '';
    return rest ? this.emit(`${rest} `) : '';
  }

  private emit(text: string): string {
    // A lone space after text that already ended in one adds nothing.
    if (!text.trim() && this.endsInSpace) return '';
    this.endsInSpace = /\s$/.test(text);
    return text;
  }
}
