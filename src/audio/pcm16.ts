/**
 * Decodes a stream of 16-bit little-endian PCM chunks whose lengths need not be even: an odd
 * trailing byte is carried over to the next chunk instead of being dropped.
 */
export class Pcm16Decoder {
  private carry?: number;

  /** The whole samples of `bytes` (with the byte carried from the last chunk); may be empty. */
  push(bytes: Uint8Array): Int16Array {
    const n = bytes.length + (this.carry === undefined ? 0 : 1);
    const out = new Uint8Array(n - (n % 2));
    let i = 0;
    if (this.carry !== undefined && out.length) out[i++] = this.carry;
    out.set(bytes.subarray(0, out.length - i), i);
    this.carry = n % 2 ? (bytes.length ? bytes[bytes.length - 1] : this.carry) : undefined;
    return new Int16Array(out.buffer);
  }
}
