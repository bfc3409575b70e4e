/**
 * The byte-level parts of gRPC over HTTP/2 (grpc/grpc PROTOCOL-HTTP2.md) that the direct transport needs:
 * length-prefixed messages reassembled from DATA chunks of any size, the response frame, `grpc-timeout`, and the
 * percent-encoding of `grpc-message`. No I/O here, so each piece is testable on its own.
 */
import { status } from '@grpc/grpc-js';

/** A request the call cannot go on with: answered with this status and nothing else. */
export class CallError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
  }
}

const PREFIX = 5;
/** grpc-message is cut to this many characters (×3 at most once percent-encoded: well inside 64 KiB). */
const MAX_MESSAGE_CHARS = 8192;
const EMPTY = Buffer.alloc(0);

/**
 * Reassembles Length-Prefixed-Messages (1 byte compressed flag, 4 bytes big-endian length, payload) from the
 * chunks a stream delivers: a message may span many chunks (down to 1 byte each), and one chunk may hold several
 * messages. The common case, one chunk holding exactly one whole message, costs no copy.
 */
export class MessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Payload length of the message being read, once its prefix is complete; -1 before that. */
  private need = -1;

  /** @param encoding the request's `grpc-encoding` (identity when absent) */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly encoding = 'identity',
  ) {}

  /** The complete messages' payloads in this chunk (with what came before); throws CallError on a bad prefix. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.pendingBytes === 0 && this.need < 0) {
      // Fast path: whole messages at the start of the chunk, sliced without copying.
      let off = 0;
      while (chunk.length - off >= PREFIX) {
        const len = this.prefix(chunk, off);
        if (chunk.length - off - PREFIX < len) break;
        out.push(chunk.subarray(off + PREFIX, off + PREFIX + len));
        off += PREFIX + len;
      }
      if (off === chunk.length) return out;
      chunk = chunk.subarray(off);
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.pendingBytes < PREFIX) return out;
        this.need = this.prefix(this.take(PREFIX), 0);
      }
      if (this.pendingBytes < this.need) return out;
      out.push(this.take(this.need));
      this.need = -1;
    }
  }

  /** True when bytes of an unfinished message are waiting: the request ended mid-message. */
  get partial(): boolean {
    return this.pendingBytes > 0 || this.need >= 0;
  }

  private prefix(buf: Buffer, off: number): number {
    const flag = buf[off]!;
    if (flag === 1) {
      // crimux advertises identity alone. A compressed message in an encoding it does not know is UNIMPLEMENTED
      // (the spec's rule, grpc-js's text); the flag set with identity or no encoding is a protocol error.
      throw this.encoding === 'identity'
        ? new CallError(status.INTERNAL, 'compressed flag set on a message with identity encoding')
        : new CallError(
            status.UNIMPLEMENTED,
            `Received message compressed with unsupported encoding "${this.encoding}"`,
          );
    }
    if (flag !== 0) throw new CallError(status.INTERNAL, `invalid message flag ${flag}`);
    const len = buf.readUInt32BE(off + 1);
    if (len > this.maxMessageBytes) {
      // grpc-js's wording, so a client sees the same text from either transport.
      throw new CallError(
        status.RESOURCE_EXHAUSTED,
        `Received message larger than max (${len} vs ${this.maxMessageBytes})`,
      );
    }
    return len;
  }

  /** Removes and returns the next n bytes of the pending chunks (copying only when they span chunks). */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY; // an empty message (e.g. VersionRequest{}) whose prefix ended the pending bytes
    this.pendingBytes -= n;
    const first = this.pending[0]!;
    if (first.length > n) {
      this.pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.pending.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const head = this.pending[0]!;
      const used = Math.min(head.length, n - off);
      head.copy(out, off, 0, used);
      off += used;
      if (used === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(used);
    }
    return out;
  }
}

/**
 * Large payloads framed before, by payload buffer: a reply encoded from cache (src/cri/reply-encoding.ts) is the
 * same buffer call after call (a relist of 1,000 unchanged containers), and its framed copy is kept with it.
 * Payload buffers are never modified once serialized.
 */
const framedLarge = new WeakMap<Buffer, Buffer>();
const LARGE = 16 * 1024;

/** One uncompressed Length-Prefixed-Message around a serialized payload. */
export function frameMessage(payload: Buffer): Buffer {
  const known = payload.length >= LARGE ? framedLarge.get(payload) : undefined;
  if (known) return known;
  const out = Buffer.allocUnsafe(PREFIX + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, PREFIX);
  if (payload.length >= LARGE) framedLarge.set(payload, out);
  return out;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** `grpc-timeout` (TimeoutValue of at most 8 digits, then H M S m u n) in milliseconds; undefined if malformed. */
export function parseTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/**
 * `grpc-message` is percent-encoded: UTF-8 bytes outside 0x20-0x7E, and '%' itself, become %XX (the spec's
 * Status-Message). Plain ASCII, what crimux's messages nearly always are, is returned as it is.
 */
export function encodeGrpcMessage(full: string): string {
  // A header list past 64 KiB is refused by clients (nghttp2's default limit): an error naming a huge request
  // value (a 70 KB pod ID) would reach the client as no answer at all.
  const message = full.length > MAX_MESSAGE_CHARS ? `${full.slice(0, MAX_MESSAGE_CHARS)}… (cut)` : full;
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
