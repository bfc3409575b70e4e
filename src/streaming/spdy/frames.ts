/**
 * SPDY/3.1 frame encoding and decoding (SPDY Protocol draft 3.1, section 2.2): only the frame layout — header
 * blocks stay compressed here and are handled by header-codec.ts, streams by session.ts.
 *
 * Control frame: |1|version(15)|type(16)|flags(8)|length(24)|payload
 * Data frame:    |0|stream-id(31)|flags(8)|length(24)|payload
 */

export const SPDY_VERSION = 3;

/** Control frame types (section 2.6). */
export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;
type ControlType = (typeof FrameType)[keyof typeof FrameType];

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (section 2.4.2). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (section 2.6.6). */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export type Frame =
  | { kind: 'data'; streamId: number; fin: boolean; data: Buffer }
  | {
      kind: 'syn_stream';
      streamId: number;
      associatedId: number;
      priority: number;
      fin: boolean;
      unidirectional: boolean;
      block: Buffer;
    }
  | { kind: 'syn_reply'; streamId: number; fin: boolean; block: Buffer }
  | { kind: 'headers'; streamId: number; fin: boolean; block: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'settings' }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'window_update'; streamId: number; delta: number }
  /** A control frame of another version or an unknown type: ignored, as the spec requires for unknown types. */
  | { kind: 'unknown'; type: number; version: number };

/** Thrown for a frame that cannot be parsed; the session answers with GOAWAY(PROTOCOL_ERROR). */
export class SpdyProtocolError extends Error {}

const HEADER_LEN = 8;
const STREAM_ID_MASK = 0x7fffffff;

/**
 * Incremental frame parser: feed socket chunks, get whole frames. Frames larger than maxFrameBytes are a
 * protocol error so a peer cannot make us buffer unbounded amounts of memory.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = 1 << 20) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_LEN) break;
      const head = this.peek(HEADER_LEN);
      const length = head.readUIntBE(5, 3);
      if (length > this.maxFrameBytes)
        throw new SpdyProtocolError(`frame of ${length} bytes exceeds the ${this.maxFrameBytes} limit`);
      if (this.buffered < HEADER_LEN + length) break;
      const whole = this.take(HEADER_LEN + length);
      frames.push(decodeFrame(whole.subarray(0, HEADER_LEN), whole.subarray(HEADER_LEN)));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0] && this.chunks[0].length >= n) return this.chunks[0];
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }

  private take(n: number): Buffer {
    const all = this.peek(n);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new SpdyProtocolError(`${what} frame too short (${payload.length} bytes)`);
}

function decodeFrame(head: Buffer, payload: Buffer): Frame {
  const flags = head[4] ?? 0;
  if (((head[0] ?? 0) & 0x80) === 0) {
    return {
      kind: 'data',
      streamId: head.readUInt32BE(0) & STREAM_ID_MASK,
      fin: (flags & FLAG_FIN) !== 0,
      data: payload,
    };
  }
  const version = head.readUInt16BE(0) & 0x7fff;
  const type = head.readUInt16BE(2);
  if (version !== SPDY_VERSION) return { kind: 'unknown', type, version };
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SynStream:
      need(payload, 10, 'SYN_STREAM');
      return {
        kind: 'syn_stream',
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        associatedId: payload.readUInt32BE(4) & STREAM_ID_MASK,
        priority: (payload[8] ?? 0) >> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        block: payload.subarray(10),
      };
    case FrameType.SynReply:
      need(payload, 4, 'SYN_REPLY');
      return { kind: 'syn_reply', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, fin, block: payload.subarray(4) };
    case FrameType.Headers:
      need(payload, 4, 'HEADERS');
      return { kind: 'headers', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, fin, block: payload.subarray(4) };
    case FrameType.RstStream:
      need(payload, 8, 'RST_STREAM');
      return {
        kind: 'rst_stream',
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        status: payload.readUInt32BE(4),
      };
    case FrameType.Settings:
      return { kind: 'settings' };
    case FrameType.Ping:
      need(payload, 4, 'PING');
      return { kind: 'ping', id: payload.readUInt32BE(0) };
    case FrameType.GoAway:
      need(payload, 4, 'GOAWAY');
      return {
        kind: 'goaway',
        lastGoodStreamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        status: payload.length >= 8 ? payload.readUInt32BE(4) : GoAwayStatus.OK,
      };
    case FrameType.WindowUpdate:
      need(payload, 8, 'WINDOW_UPDATE');
      return {
        kind: 'window_update',
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        delta: payload.readUInt32BE(4) & STREAM_ID_MASK,
      };
    default:
      return { kind: 'unknown', type, version };
  }
}

function control(type: ControlType, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_LEN);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(payload.length, 4);
  head[4] = flags;
  return Buffer.concat([head, payload]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/** A DATA frame; callers split payloads above 16 MiB - 1 (the 24-bit length). */
export function encodeData(streamId: number, data: Buffer, fin: boolean): Buffer {
  const head = Buffer.alloc(HEADER_LEN);
  head.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  head.writeUInt32BE(data.length, 4);
  head[4] = fin ? FLAG_FIN : 0;
  return data.length ? Buffer.concat([head, data]) : head;
}

export function encodeSynStream(
  streamId: number,
  block: Buffer,
  opts: { fin?: boolean; priority?: number } = {},
): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  fixed[8] = ((opts.priority ?? 0) & 0x7) << 5;
  return control(FrameType.SynStream, opts.fin ? FLAG_FIN : 0, Buffer.concat([fixed, block]));
}

export function encodeSynReply(streamId: number, block: Buffer, fin = false): Buffer {
  return control(FrameType.SynReply, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId & STREAM_ID_MASK), block]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return control(FrameType.RstStream, 0, u32s(streamId & STREAM_ID_MASK, status));
}

export function encodePing(id: number): Buffer {
  return control(FrameType.Ping, 0, u32s(id));
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  return control(FrameType.GoAway, 0, u32s(lastGoodStreamId & STREAM_ID_MASK, status));
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return control(FrameType.WindowUpdate, 0, u32s(streamId & STREAM_ID_MASK, delta & STREAM_ID_MASK));
}
