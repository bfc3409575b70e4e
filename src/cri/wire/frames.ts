/** HTTP/2 framing constants and helpers (RFC 9113 §3.4, §4, §6): the authority filter's and the lean server's. */

/** What every client sends first. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_LENGTH = 9;
/** A SETTINGS frame with no parameters (all defaults), on stream 0. */
export const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
/** SETTINGS_MAX_FRAME_SIZE's initial value; the server never raises it, so no legal frame from a client is longer. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
}

export function readFrameHeader(buf: Buffer, at: number): FrameHeader {
  return {
    length: buf.readUIntBE(at, 3),
    type: buf[at + 3]!,
    flags: buf[at + 4]!,
    streamId: buf.readUInt32BE(at + 5) & 0x7fffffff,
  };
}

export function writeFrameHeader(h: FrameHeader): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  out.writeUIntBE(h.length, 0, 3);
  out[3] = h.type;
  out[4] = h.flags;
  out.writeUInt32BE(h.streamId, 5);
  return out;
}

/** Raised for a frame sequence the server would answer with a connection error. */
export class FrameError extends Error {}

/**
 * The header block fragment of a HEADERS frame's payload, without padding and priority fields. `priority` is the
 * 5-byte priority block when the PRIORITY flag is set (kept as sent when the block is rebuilt).
 */
export function headersFragment(payload: Buffer, flags: number): { fragment: Buffer; priority?: Buffer } {
  let start = 0;
  let end = payload.length;
  if (flags & Flag.PADDED) {
    if (payload.length < 1) throw new FrameError('HEADERS: PADDED without a pad length');
    end -= payload[0]!;
    start = 1;
  }
  let priority: Buffer | undefined;
  if (flags & Flag.PRIORITY) {
    priority = payload.subarray(start, start + 5);
    start += 5;
  }
  if (end < start) throw new FrameError('HEADERS: padding longer than the payload');
  return { fragment: payload.subarray(start, end), priority };
}

/**
 * Frames a header block as HEADERS (+ CONTINUATION) on one stream, no padding, at most DEFAULT_MAX_FRAME_SIZE
 * payload each; END_STREAM and the priority block are carried over from the original first frame.
 */
export function frameHeaderBlock(streamId: number, firstFlags: number, block: Buffer, priority?: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const prio = priority ?? Buffer.alloc(0);
  let pos = Math.min(block.length, DEFAULT_MAX_FRAME_SIZE - prio.length);
  const flags = (firstFlags & (Flag.END_STREAM | Flag.PRIORITY)) | (pos === block.length ? Flag.END_HEADERS : 0);
  out.push(writeFrameHeader({ length: prio.length + pos, type: FrameType.HEADERS, flags, streamId }), prio);
  out.push(block.subarray(0, pos));
  while (pos < block.length) {
    const next = Math.min(block.length, pos + DEFAULT_MAX_FRAME_SIZE);
    const last = next === block.length ? Flag.END_HEADERS : 0;
    out.push(writeFrameHeader({ length: next - pos, type: FrameType.CONTINUATION, flags: last, streamId }));
    out.push(block.subarray(pos, next));
    pos = next;
  }
  return out;
}
