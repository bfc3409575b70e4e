/**
 * A small HPACK encoder for tests (not a test file): every field representation of RFC 7541 §6 chosen explicitly,
 * raw or Huffman strings, and its own dynamic-table size bookkeeping so tests can compare it with the decoder's.
 */
import { huffmanEncode } from '../../src/cri/wire/huffman';
import { integer } from '../../src/cri/h2/hpack-encode';

export type Representation = 'incremental' | 'without' | 'never';

export type FieldSpec =
  | { index: number }
  | { sizeUpdate: number }
  | {
      name: string;
      value: string | Buffer;
      /** How the field is sent; incremental by default. */
      as?: Representation;
      /** Static or dynamic index for the name; a new-name literal when absent. */
      nameIndex?: number;
      huffman?: boolean;
      nameHuffman?: boolean;
    };

const PREFIX: Record<Representation, { bits: number; pattern: number }> = {
  incremental: { bits: 6, pattern: 0x40 },
  without: { bits: 4, pattern: 0x00 },
  never: { bits: 4, pattern: 0x10 },
};

/** RFC 7541 §5.1 prefix integers: the server's own encoder (src/cri/h2/hpack-encode.ts) writes them the same way. */
export const encodeInteger = integer;

export function encodeString(value: string | Buffer, huffman = false): Buffer {
  const raw = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const bytes = huffman ? huffmanEncode(raw) : raw;
  return Buffer.concat([encodeInteger(bytes.length, 7, huffman ? 0x80 : 0), bytes]);
}

export class TestEncoder {
  /** Entry sizes, oldest first, mirroring what the peer's decoder holds. */
  private sizes: number[] = [];
  maxSize = 4096;

  get tableSize(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  encode(fields: FieldSpec[]): Buffer {
    const parts: Buffer[] = [];
    for (const f of fields) {
      if ('index' in f) {
        parts.push(encodeInteger(f.index, 7, 0x80));
      } else if ('sizeUpdate' in f) {
        parts.push(encodeInteger(f.sizeUpdate, 5, 0x20));
        this.maxSize = f.sizeUpdate;
        this.evict(0);
      } else {
        const as = f.as ?? 'incremental';
        const { bits, pattern } = PREFIX[as];
        parts.push(encodeInteger(f.nameIndex ?? 0, bits, pattern));
        if (f.nameIndex === undefined) parts.push(encodeString(f.name, f.nameHuffman));
        parts.push(encodeString(f.value, f.huffman));
        if (as === 'incremental') {
          const size = f.name.length + Buffer.byteLength(f.value, 'latin1') + 32;
          this.evict(size);
          if (size <= this.maxSize) this.sizes.push(size);
        }
      }
    }
    return Buffer.concat(parts);
  }

  private evict(incoming: number): void {
    while (this.sizes.length && this.tableSize + incoming > this.maxSize) this.sizes.shift();
  }
}

/** The fields of a gRPC request for `path`, with `authority` sent as `as` (incremental by default). */
export function grpcRequest(
  authority: string | Buffer,
  opts: { path?: string; as?: Representation; huffman?: boolean; newName?: boolean } = {},
): FieldSpec[] {
  const authorityField: FieldSpec = {
    name: ':authority',
    value: authority,
    as: opts.as,
    huffman: opts.huffman,
    ...(opts.newName ? {} : { nameIndex: 1 }),
  };
  return [
    { index: 3 }, // :method POST
    { index: 6 }, // :scheme http
    { name: ':path', nameIndex: 4, value: opts.path ?? '/runtime.v1.RuntimeService/Version', as: 'without' },
    authorityField,
    { name: 'content-type', nameIndex: 31, value: 'application/grpc', as: 'without' },
    { name: 'te', value: 'trailers', as: 'without' },
  ];
}
