/**
 * The HPACK static Huffman code (RFC 7541, Appendix B). The code is canonical: within one code length the codes
 * are consecutive in symbol order, and each length continues from the last code of the shorter one. So the code
 * lengths alone define it, and decoding needs only, per length, the first code and where its symbols start.
 */

/** Code length in bits of each symbol 0..255, then EOS (256). */
// prettier-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
const MAX_LEN = 30;

/** Symbols sorted by (length, symbol): the canonical order. */
const SORTED: number[] = [...CODE_LENGTHS.keys()].sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
/** Per length L: the first code of that length, how many codes have it, and the index in SORTED of the first. */
const FIRST_CODE = new Array<number>(MAX_LEN + 1).fill(0);
const COUNT = new Array<number>(MAX_LEN + 1).fill(0);
const FIRST_INDEX = new Array<number>(MAX_LEN + 1).fill(0);
/** The code of each symbol (for the encoder, which tests use to build Huffman-coded input). */
const CODES = new Array<number>(CODE_LENGTHS.length).fill(0);

{
  for (const len of CODE_LENGTHS) COUNT[len]!++;
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_LEN; len++) {
    FIRST_CODE[len] = code;
    FIRST_INDEX[len] = index;
    for (let k = 0; k < COUNT[len]!; k++) CODES[SORTED[index + k]!] = code + k;
    code = (code + COUNT[len]!) * 2;
    index += COUNT[len]!;
  }
}

/** Raised for input that is not a valid HPACK Huffman string (a COMPRESSION_ERROR for the peer). */
export class HuffmanError extends Error {}

/**
 * Decodes buf[start, end). Rejects what RFC 7541 §5.2 makes an error: an EOS symbol, padding longer than 7 bits,
 * or padding that is not the most significant bits of EOS (all ones).
 */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let n = 0;
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const offset = code - FIRST_CODE[len]!;
      if (offset < COUNT[len]!) {
        const sym = SORTED[FIRST_INDEX[len]! + offset]!;
        if (sym === EOS) throw new HuffmanError('huffman: EOS in string');
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len >= MAX_LEN) {
        throw new HuffmanError('huffman: invalid code');
      }
    }
  }
  if (len > 7 || code !== 2 ** len - 1) throw new HuffmanError('huffman: invalid padding');
  return out.subarray(0, n);
}

/** Huffman-encodes bytes, padded with the high bits of EOS. */
export function huffmanEncode(bytes: Uint8Array): Buffer {
  let bits = 0;
  for (const b of bytes) bits += CODE_LENGTHS[b]!;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let pos = 0;
  const put = (code: number, len: number): void => {
    for (let k = len - 1; k >= 0; k--) {
      if (Math.floor(code / 2 ** k) % 2) out[pos >> 3]! |= 0x80 >> (pos & 7);
      pos++;
    }
  };
  for (const b of bytes) put(CODES[b]!, CODE_LENGTHS[b]!);
  while (pos % 8) put(1, 1);
  return out;
}
