/**
 * SPDY/3 header blocks (section 2.6.10): a count of name/value pairs, each length-prefixed, compressed with one
 * zlib context per direction and connection, primed with the SPDY dictionary.
 *
 * Outgoing blocks are written as zlib *stored* blocks after a zlib header with FDICT set. That is a valid zlib
 * stream for any inflater (the Go framer in the kubelet and client-go checks the header and the dictionary's
 * Adler-32, then simply inflates), it keeps header encoding synchronous so a SYN_REPLY can never be reordered
 * behind later DATA frames, and our blocks are a few bytes (SYN_REPLY carries no headers), so compression would
 * gain nothing. Each block ends with an empty stored block, exactly what Z_SYNC_FLUSH emits: Go's inflater hands
 * out a stored block's bytes only when the next block header arrives, and without that marker it would read past
 * the frame, fail, and keep failing for every later header block of the connection (found with real kubectl). ZlibHeaderDeflater does real compression the way Go does; the test client uses it so that the
 * server's inflater is exercised with dictionary-compressed input.
 *
 * Incoming blocks are inflated with one long-lived zlib stream per connection (the context spans frames).
 */
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary';
import { SpdyProtocolError } from './frames';

/** Lower-cased header name → values (SPDY joins repeated values with NUL). */
export type SpdyHeaders = ReadonlyMap<string, readonly string[]>;

const MAX_PAIRS = 256;
const MAX_DECODED_BYTES = 64 * 1024;

/** Serialize headers into an uncompressed SPDY/3 header block; names are lower-cased as the spec requires. */
export function encodeHeaderBlock(headers: Readonly<Record<string, string | readonly string[]>>): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(typeof value === 'string' ? value : value.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parse an uncompressed header block; malformed input is a protocol error. */
export function decodeHeaderBlock(raw: Buffer): SpdyHeaders {
  const out = new Map<string, string[]>();
  let off = 0;
  const read = (n: number): Buffer => {
    if (off + n > raw.length) throw new SpdyProtocolError('header block truncated');
    const b = raw.subarray(off, off + n);
    off += n;
    return b;
  };
  const count = read(4).readUInt32BE(0);
  if (count > MAX_PAIRS) throw new SpdyProtocolError(`header block has ${count} pairs (limit ${MAX_PAIRS})`);
  for (let i = 0; i < count; i++) {
    const name = read(read(4).readUInt32BE(0)).toString('utf8').toLowerCase();
    const values = read(read(4).readUInt32BE(0)).toString('utf8').split('\0');
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/** An empty, non-final stored block: what zlib's Z_SYNC_FLUSH appends. */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/** Turns uncompressed header blocks into the bytes that go on the wire, in call order. */
export interface HeaderDeflater {
  deflate(raw: Buffer): Buffer | Promise<Buffer>;
  close(): void;
}

/** zlib stored blocks (see the file comment); synchronous. */
export class StoredHeaderDeflater implements HeaderDeflater {
  private started = false;

  deflate(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      parts.push(zlibHeaderWithDictionary());
    }
    let off = 0;
    do {
      const chunk = raw.subarray(off, off + 0xffff);
      const head = Buffer.alloc(5);
      head[0] = 0x00; // BFINAL=0, BTYPE=00 (stored); stored blocks keep us byte-aligned
      head.writeUInt16LE(chunk.length, 1);
      head.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(head, chunk);
      off += chunk.length;
    } while (off < raw.length);
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }

  close(): void {}
}

/** Real dictionary compression with a sync flush per block, as Go's SPDY framer does. */
export class ZlibHeaderDeflater implements HeaderDeflater {
  private readonly z = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: zlib.constants.Z_BEST_COMPRESSION });
  private readonly out = new FlushCollector(this.z);

  deflate(raw: Buffer): Promise<Buffer> {
    return this.out.run(raw);
  }

  close(): void {
    this.z.destroy();
  }
}

/** Inflates the incoming header blocks of one connection. */
export class HeaderInflater {
  private readonly z = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private readonly out = new FlushCollector(this.z, MAX_DECODED_BYTES);

  async inflate(block: Buffer): Promise<SpdyHeaders> {
    return decodeHeaderBlock(await this.out.run(block));
  }

  close(): void {
    this.z.destroy();
  }
}

/**
 * Writes one block, sync-flushes, and resolves with exactly the output of that block. zlib emits output before
 * it calls the flush callback, and calls are processed in order, so concurrent run() calls stay separated.
 */
class FlushCollector {
  private chunks: Buffer[] = [];
  private size = 0;
  private failed?: Error;
  private readonly waiting = new Set<(err: Error) => void>();

  constructor(
    private readonly z: zlib.Deflate | zlib.Inflate,
    private readonly maxBytes = Infinity,
  ) {
    z.on('data', (b: Buffer) => {
      this.size += b.length;
      if (this.size > this.maxBytes)
        this.fail(new SpdyProtocolError(`header block inflates past ${this.maxBytes} bytes`));
      else this.chunks.push(b);
    });
    z.on('error', (err: Error) => this.fail(new SpdyProtocolError(`header compression: ${err.message}`)));
  }

  run(input: Buffer): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.add(reject);
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.waiting.delete(reject);
        if (this.failed) return reject(this.failed);
        const out = Buffer.concat(this.chunks);
        this.chunks = [];
        this.size = 0;
        resolve(out);
      });
    });
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const reject of this.waiting) reject(this.failed);
    this.waiting.clear();
    this.z.destroy();
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** CMF 0x78 (deflate, 32 KiB window), FLG with FDICT and a valid FCHECK, then the dictionary's Adler-32. */
function zlibHeaderWithDictionary(): Buffer {
  const cmf = 0x78;
  let flg = 0x20;
  flg += (31 - ((cmf * 256 + flg) % 31)) % 31;
  const b = Buffer.alloc(6);
  b[0] = cmf;
  b[1] = flg;
  b.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
  return b;
}

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of buf) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}
