/**
 * An HPACK decoder (RFC 7541) for a client's header blocks. Two uses: `decode` gives the fields of a block (the
 * lean HTTP/2 server, src/cri/h2/); `scan` follows a block field by field for the authority filter, keeping the
 * dynamic table in step with the server's own decoder and reporting where the literal `:authority` / `host`
 * values sit in the block.
 */
import { huffmanDecode } from './huffman';

/** RFC 7541 Appendix A: the names of the static table, index 1..61 (values are never needed here). */
// prettier-ignore
const STATIC_NAMES: readonly string[] = [
  ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status', ':status',
  ':status', ':status', ':status', ':status', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'accept', 'access-control-allow-origin', 'age', 'allow', 'authorization', 'cache-control',
  'content-disposition', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-range', 'content-type', 'cookie', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match',
  'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'link', 'location',
  'max-forwards', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after',
  'server', 'set-cookie', 'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary', 'via',
  'www-authenticate',
];

/** RFC 7541 Appendix A: the values of the static table (empty where the entry names a field only). */
const STATIC_VALUES = new Map<number, string>([
  [2, 'GET'],
  [3, 'POST'],
  [4, '/'],
  [5, '/index.html'],
  [6, 'http'],
  [7, 'https'],
  [8, '200'],
  [9, '204'],
  [10, '206'],
  [11, '304'],
  [12, '400'],
  [13, '404'],
  [14, '500'],
  [16, 'gzip, deflate'],
]);

/** RFC 7541 §4.1: an entry costs its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;

/** Raised for a block this decoder cannot follow (the server's decoder would fail it with COMPRESSION_ERROR). */
export class HpackError extends Error {}

/** A literal field whose name is `:authority` or `host` (the two names the server validates as an authority). */
export interface AuthorityLiteral {
  /** Where the value's string literal (its length prefix and bytes) starts and ends in the block. */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** The decoded value. */
  readonly value: Buffer;
  /** Sent with incremental indexing: the value also enters the dynamic table. */
  readonly indexed: boolean;
}

interface Entry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
}

/** A decoded field: name and value (latin1: HTTP/2 field values are octets). */
export type HeaderField = readonly [name: string, value: string];

export class HpackDecoder {
  /** Oldest first: dynamic index 1 (absolute 62) is the last element. */
  private readonly entries: Entry[] = [];
  private size = 0;
  private maxSize = 4096;
  private pos = 0;
  private block: Buffer = Buffer.alloc(0);

  /** @param sizeLimit the largest dynamic table size update accepted (a bound on memory, not the server's rule). */
  constructor(private readonly sizeLimit = 65536) {}

  /** Table size in RFC 7541 terms, for tests that compare it with the encoder's. */
  get tableSize(): number {
    return this.size;
  }

  /** Follows one complete header block; returns its literal authority fields in order. */
  scan(block: Buffer): AuthorityLiteral[] {
    const found: AuthorityLiteral[] = [];
    this.walk(block, (name, value, literal) => {
      if (literal && (name === ':authority' || name === 'host')) found.push(literal);
    });
    return found;
  }

  /** The fields of one complete header block, in order. */
  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    this.walk(block, (name, value) => fields.push([name, value]));
    return fields;
  }

  private walk(block: Buffer, field: (name: string, value: string, literal?: AuthorityLiteral) => void): void {
    this.block = block;
    this.pos = 0;
    while (this.pos < block.length) {
      const first = block[this.pos]!;
      if (first & 0x80) {
        const entry = this.entryAt(this.integer(7));
        field(entry.name, entry.value);
      } else if (first & 0x40) {
        this.literal(6, true, field);
      } else if (first & 0x20) {
        const size = this.integer(5);
        if (size > this.sizeLimit) throw new HpackError(`hpack: table size update ${size} over ${this.sizeLimit}`);
        this.maxSize = size;
        this.evict(0);
      } else {
        this.literal(4, false, field); // without indexing (0000) or never indexed (0001): same layout
      }
    }
  }

  private literal(
    prefixBits: number,
    indexed: boolean,
    field: (name: string, value: string, literal: AuthorityLiteral) => void,
  ): void {
    const index = this.integer(prefixBits);
    const name = index === 0 ? this.string().toString('latin1') : this.entryAt(index).name;
    const valueStart = this.pos;
    const bytes = this.string();
    const value = bytes.toString('latin1');
    field(name, value, { valueStart, valueEnd: this.pos, value: bytes, indexed });
    if (indexed) this.insert(name, value);
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 §4.4).
    if (size <= this.maxSize) {
      this.entries.push({ name, value, size });
      this.size += size;
    }
  }

  /** Evicts oldest entries until `incoming` more bytes fit. */
  private evict(incoming: number): void {
    let drop = 0;
    while (drop < this.entries.length && this.size + incoming > this.maxSize) this.size -= this.entries[drop++]!.size;
    if (drop) this.entries.splice(0, drop);
  }

  private entryAt(index: number): { name: string; value: string } {
    if (index >= 1 && index <= STATIC_NAMES.length) {
      return { name: STATIC_NAMES[index - 1]!, value: STATIC_VALUES.get(index) ?? '' };
    }
    const entry = this.entries[this.entries.length - (index - STATIC_NAMES.length)];
    if (index === 0 || !entry) throw new HpackError(`hpack: index ${index} out of range`);
    return entry;
  }

  /** RFC 7541 §5.1 prefix integer; capped well below 2^31 so arithmetic stays exact. */
  private integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.byte() & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      // Past 2^31 anyway (and 2^shift would turn padding bytes into NaN): a malformed integer.
      if (shift > 28) throw new HpackError('hpack: integer too long');
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if (value > 0x7fffffff) throw new HpackError('hpack: integer overflow');
      if (!(b & 0x80)) return value;
    }
  }

  /** RFC 7541 §5.2 string literal: H bit, 7-bit prefix length, raw or Huffman bytes. */
  private string(): Buffer {
    const huffman = (this.block[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > this.block.length) throw new HpackError('hpack: string past the end of the block');
    this.pos = end;
    return huffman ? huffmanDecode(this.block, start, end) : this.block.subarray(start, end);
  }

  private byte(): number {
    if (this.pos >= this.block.length) throw new HpackError('hpack: truncated field');
    return this.block[this.pos++]!;
  }
}
