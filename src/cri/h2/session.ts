/**
 * The lean HTTP/2 server connection (RFC 9113) under crimux's gRPC call layer, in place of node:http2.
 *
 * Why: on node:http2 every call costs nghttp2's callbacks into JavaScript, a Duplex stream object and its
 * buffering, and that per-call floor alone was 1.2–1.35× containerd's whole Version call (bench/results/
 * transport.md, issue #21). Here one socket read is parsed in one loop, a call's response (HEADERS, DATA,
 * trailers) leaves in one write, and a stream is an EventEmitter (stream.ts).
 *
 * What is implemented, as a server that only answers requests:
 * - the connection preface, SETTINGS (both ways, with ACK), PING answers, GOAWAY (sent on a graceful close: the
 *   streams already open run to completion, later ones are refused with REFUSED_STREAM; received: noted), RST_STREAM
 *   (the stream is closed and its call cancelled), PRIORITY (ignored), unknown frame types (ignored);
 * - HEADERS + CONTINUATION into one header block (HPACK: src/cri/wire/hpack-decoder.ts), padding, trailers from a
 *   client; new stream IDs odd and increasing;
 * - flow control: what this server receives is never held back (the windows it grants are the largest allowed and
 *   are topped up as DATA arrives: the gRPC layer bounds each message); what it sends respects the client's
 *   connection and stream windows and its SETTINGS_MAX_FRAME_SIZE, queueing DATA until WINDOW_UPDATE;
 * - any frame sequence the RFC calls a connection error ends the connection with GOAWAY and that code.
 * `:authority` is not checked at all: the socket-path authority of kubelets up to 1.30 needs no filter here.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import { CLIENT_PREFACE, Flag, FrameType, headersFragment, writeFrameHeader } from '../wire/frames';
import { HpackDecoder, HpackError } from '../wire/hpack-decoder';
import { HuffmanError } from '../wire/huffman';
import { encodeHeaders, headerListSize } from './hpack-encode';
import { H2Stream, type StreamSink } from './stream';

const T = FrameType;
const { END_STREAM, ACK, END_HEADERS, PADDED } = Flag;

/** RFC 9113 §7 error codes used here. */
const E = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  COMPRESSION_ERROR: 9,
} as const;

const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;
const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65535;
/** Frames this server accepts: SETTINGS_MAX_FRAME_SIZE's default, never raised. */
const MAX_FRAME = 16384;
/** Received bytes after which the connection window is topped up again. */
const REPLENISH_AT = 2 ** 30;
/**
 * Streams open at once per connection (advertised; a stream past it is refused). The kubelet keeps a handful;
 * the bound keeps a connection's work per frame and its buffered requests finite.
 */
export const MAX_CONCURRENT_STREAMS = 1000;
/** CONTINUATION frames per header block: a legal 256 KiB block needs 16; a flood of empty ones is refused. */
const MAX_CONTINUATIONS = 64;
/** Output waiting for a client that does not read: past this, its input is no longer read until it drains. */
const MAX_BUFFERED_OUTPUT = 1 << 20;
const EMPTY = Buffer.alloc(0);

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type RequestHeaders = IncomingHttpHeaders;

export interface H2SessionOptions {
  /** Largest header block (HEADERS and its CONTINUATIONs) accepted. */
  readonly maxHeaderBlock: number;
  readonly onStream: (stream: H2Stream, headers: RequestHeaders) => void;
  /** A connection ended by an error (the peer's or a protocol error): for the log. */
  readonly onError?: (err: Error) => void;
}

interface Pending {
  chunks: Buffer[];
  bytes: number;
  /** END_STREAM goes with the last queued byte (or alone, when there is none). */
  end: boolean;
}

export class H2Session extends EventEmitter implements StreamSink {
  private input: Buffer = EMPTY;
  private prefaceSeen = false;
  private readonly streams = new Map<number, H2Stream>();
  private lastStreamId = 0;
  /** 4096: the header table size this server leaves at its default, so the client may not set more. */
  private readonly decoder = new HpackDecoder(4096);
  private block: { id: number; flags: number; parts: Buffer[]; size: number } | undefined;
  /** A connection WINDOW_UPDATE or SETTINGS arrived: every stream's queued DATA is looked at once, after the read. */
  private pumpAll = false;
  private connSendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MAX_FRAME;
  /** The largest header list the client takes (RFC 9113 §6.5.2; unlimited until it says). */
  private peerMaxHeaderList = Number.POSITIVE_INFINITY;
  private received = 0;
  private readonly pending = new Map<H2Stream, Pending>();
  private out: Buffer[] = [];
  private flushQueued = false;
  private goawaySent = false;
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: H2SessionOptions,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.socket.isPaused()) this.socket.resume();
      this.pump();
    });
    socket.on('end', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('error', (err: Error) => {
      this.opts.onError?.(err);
      this.destroy();
    });
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(MAX_WINDOW, 2);
    settings.writeUInt16BE(SETTINGS_MAX_CONCURRENT_STREAMS, 6);
    settings.writeUInt32BE(MAX_CONCURRENT_STREAMS, 8);
    this.frame(T.SETTINGS, 0, 0, settings);
    this.windowUpdate(0, MAX_WINDOW - DEFAULT_WINDOW);
  }

  /** Graceful end: GOAWAY now, the connection closes once the open streams are done. */
  close(): void {
    if (this.closed || this.goawaySent) return;
    this.goaway(E.NO_ERROR, '');
    if (this.streams.size === 0) this.endSocket();
  }

  /** Ends the connection now: every open stream is closed (its call cancelled). */
  destroy(destroySocket = true): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.streams.values()];
    this.streams.clear();
    this.pending.clear();
    for (const s of open) s.close();
    if (destroySocket) this.socket.destroy();
    this.emit('close');
  }

  // --- input ----------------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    const buf = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < CLIENT_PREFACE.length) {
          if (!CLIENT_PREFACE.subarray(0, buf.length).equals(buf))
            throw new ConnectionError(E.PROTOCOL_ERROR, 'bad preface');
          this.input = buf;
          return;
        }
        if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) {
          throw new ConnectionError(E.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
        }
        at = CLIENT_PREFACE.length;
        this.prefaceSeen = true;
      }
      while (buf.length - at >= 9 && !this.closed) {
        const length = buf.readUIntBE(at, 3);
        if (length > MAX_FRAME) throw new ConnectionError(E.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        if (buf.length - at - 9 < length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + 9, at + 9 + length);
        at += 9 + length;
        this.onFrame(type, flags, id, payload);
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    // What is left is less than one frame: copied, so the chunk it came from is not kept alive.
    this.input = at === buf.length ? EMPTY : Buffer.from(buf.subarray(at));
    if (this.received >= REPLENISH_AT) {
      this.windowUpdate(0, this.received);
      this.received = 0;
    }
    if (this.pumpAll) {
      this.pumpAll = false;
      this.pump();
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.block && type !== T.CONTINUATION) {
      throw new ConnectionError(E.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    switch (type) {
      case T.DATA:
        return this.onDataFrame(flags, id, payload);
      case T.HEADERS: {
        if (id === 0 || id % 2 === 0) throw new ConnectionError(E.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
        const { fragment } = headersFragment(payload, flags);
        this.block = { id, flags, parts: [fragment], size: fragment.length };
        if (flags & END_HEADERS) this.endHeaderBlock();
        return;
      }
      case T.CONTINUATION: {
        const b = this.block;
        if (!b || b.id !== id) throw new ConnectionError(E.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        b.parts.push(payload);
        b.size += payload.length;
        if (b.parts.length > MAX_CONTINUATIONS) {
          throw new ConnectionError(E.PROTOCOL_ERROR, `header block in over ${MAX_CONTINUATIONS} frames`);
        }
        if (b.size > this.opts.maxHeaderBlock) {
          throw new ConnectionError(E.PROTOCOL_ERROR, `header block over ${this.opts.maxHeaderBlock} bytes`);
        }
        if (flags & END_HEADERS) this.endHeaderBlock();
        return;
      }
      case T.PRIORITY:
        if (payload.length !== 5) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'PRIORITY of the wrong size');
        return;
      case T.RST_STREAM: {
        if (payload.length !== 4) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        if (id === 0) throw new ConnectionError(E.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        const s = this.streams.get(id);
        if (s) this.closeStream(s);
        else if (id > this.lastStreamId) throw new ConnectionError(E.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
        return;
      }
      case T.SETTINGS:
        return this.onSettings(flags, id, payload);
      case T.PUSH_PROMISE:
        throw new ConnectionError(E.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case T.PING:
        if (id !== 0) throw new ConnectionError(E.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & ACK)) this.frame(T.PING, ACK, 0, Buffer.from(payload));
        return;
      case T.GOAWAY:
        return; // the client starts no new streams; those open finish, and it closes the socket
      case T.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(E.PROTOCOL_ERROR, 'DATA on stream 0');
    this.received += payload.length;
    let data = payload;
    if (flags & PADDED) {
      const pad = payload[0] ?? 0;
      if (payload.length === 0 || pad >= payload.length) throw new ConnectionError(E.PROTOCOL_ERROR, 'bad padding');
      data = payload.subarray(1, payload.length - pad);
    }
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStreamId) throw new ConnectionError(E.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream already closed here (reset, or answered early): dropped
    }
    if (s.remoteEnded) {
      this.reset(s, E.STREAM_CLOSED);
      return;
    }
    if (data.length > 0) s.emit('data', data);
    if (flags & END_STREAM) this.remoteEnd(s);
  }

  private endHeaderBlock(): void {
    const b = this.block!;
    this.block = undefined;
    if (b.size > this.opts.maxHeaderBlock) {
      throw new ConnectionError(E.PROTOCOL_ERROR, `header block over ${this.opts.maxHeaderBlock} bytes`);
    }
    const block = b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts);
    // Decoded even for a stream that is refused: the dynamic table must stay in step with the client's.
    const fields = this.decoder.decode(block);
    const existing = this.streams.get(b.id);
    if (existing) {
      // Trailers from the client: they must end the stream.
      if (!(b.flags & END_STREAM)) return this.reset(existing, E.PROTOCOL_ERROR);
      return this.remoteEnd(existing);
    }
    // A stream this server already ended (answered and reset, or refused): what the client still sends is ignored.
    if (b.id <= this.lastStreamId) return;
    this.lastStreamId = b.id;
    if (this.goawaySent || this.streams.size >= MAX_CONCURRENT_STREAMS) return this.rstFrame(b.id, E.REFUSED_STREAM);
    // No prototype: a field named __proto__ is a field like any other.
    const headers = Object.create(null) as Record<string, string | string[]>;
    for (const [name, value] of fields) {
      const had = headers[name];
      if (had === undefined) headers[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else headers[name] = [had, value];
    }
    const s = new H2Stream(b.id, this, this.peerInitialWindow);
    this.streams.set(b.id, s);
    // The client's side may already be over; known before the handler can answer (and end the stream) at once.
    const ended = (b.flags & END_STREAM) !== 0;
    s.remoteEnded = ended;
    this.opts.onStream(s, headers);
    if (ended && !s.destroyed) s.emit('end');
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(E.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & ACK) {
      if (payload.length !== 0) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(E.FLOW_CONTROL_ERROR, 'initial window too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(E.FLOW_CONTROL_ERROR, 'stream window overflow');
        }
      } else if (key === SETTINGS_MAX_HEADER_LIST_SIZE) {
        this.peerMaxHeaderList = value;
      } else if (key === SETTINGS_MAX_FRAME_SIZE) {
        if (value < MAX_FRAME || value > 0xffffff) throw new ConnectionError(E.PROTOCOL_ERROR, 'bad max frame size');
        this.peerMaxFrame = value;
      }
      // Header table size, push, concurrency and header list size do not change what this server sends.
    }
    this.frame(T.SETTINGS, ACK, 0, EMPTY);
    this.pumpAll = true;
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(E.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(E.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) throw new ConnectionError(E.FLOW_CONTROL_ERROR, 'window overflow');
      this.pumpAll = true;
      return;
    }
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStreamId) throw new ConnectionError(E.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (increment === 0) return this.reset(s, E.PROTOCOL_ERROR);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.reset(s, E.FLOW_CONTROL_ERROR);
    this.pumpStream(s);
  }

  private remoteEnd(s: H2Stream): void {
    if (s.destroyed) return;
    s.remoteEnded = true;
    s.emit('end');
  }

  // --- output (StreamSink) ---------------------------------------------------------------------------------------

  sendHeaders(s: H2Stream, headers: OutgoingHttpHeaders, endStream: boolean): void {
    if (this.closed) return;
    if (headerListSize(headers) > this.peerMaxHeaderList) {
      // The client would refuse the block (and nghttp2 then stalls the connection): the stream fails instead.
      this.opts.onError?.(
        new Error(`stream ${s.id}: response headers over the client's limit of ${this.peerMaxHeaderList}`),
      );
      return this.reset(s, E.INTERNAL_ERROR);
    }
    const block = encodeHeaders(headers);
    const max = this.peerMaxFrame;
    let pos = Math.min(block.length, max);
    const first = (endStream ? END_STREAM : 0) | (pos === block.length ? END_HEADERS : 0);
    this.frame(T.HEADERS, first, s.id, block.subarray(0, pos));
    while (pos < block.length) {
      const next = Math.min(block.length, pos + max);
      this.frame(T.CONTINUATION, next === block.length ? END_HEADERS : 0, s.id, block.subarray(pos, next));
      pos = next;
    }
    if (endStream) this.endSent(s);
  }

  sendData(s: H2Stream, data: Buffer | undefined, endStream: boolean): void {
    if (this.closed) return;
    let p = this.pending.get(s);
    if (!p) {
      p = { chunks: [], bytes: 0, end: false };
      this.pending.set(s, p);
    }
    if (data && data.length > 0) {
      p.chunks.push(data);
      p.bytes += data.length;
    }
    if (endStream) p.end = true;
    this.pumpStream(s);
  }

  queuedBytes(s: H2Stream): number {
    return this.pending.get(s)?.bytes ?? 0;
  }

  /** Moves every stream's queued DATA into the output as far as the windows and the socket allow. */
  private pump(): void {
    if (this.closed) return;
    for (const s of this.pending.keys()) {
      if (this.socketFull()) return;
      this.pumpStream(s);
    }
  }

  /** The same for one stream (after its own window opened, or it queued more). */
  private pumpStream(s: H2Stream): void {
    const p = this.pending.get(s);
    if (!p || this.closed) return;
    while (p.chunks.length > 0 && this.connSendWindow > 0 && s.sendWindow > 0 && !this.socketFull()) {
      const chunk = p.chunks[0]!;
      const n = Math.min(chunk.length, this.connSendWindow, s.sendWindow, this.peerMaxFrame);
      const last = p.end && n === chunk.length && p.chunks.length === 1;
      this.frame(T.DATA, last ? END_STREAM : 0, s.id, chunk.subarray(0, n));
      this.connSendWindow -= n;
      s.sendWindow -= n;
      p.bytes -= n;
      if (n === chunk.length) p.chunks.shift();
      else p.chunks[0] = chunk.subarray(n);
      if (last) {
        this.pending.delete(s);
        this.endSent(s);
        return;
      }
    }
    if (p.chunks.length === 0) {
      this.pending.delete(s);
      if (p.end) {
        this.frame(T.DATA, END_STREAM, s.id, EMPTY);
        this.endSent(s);
      } else {
        s.flushed();
      }
    } else if (p.bytes > 0) {
      s.flushed(); // 'drain' when it fell below the mark
    }
  }

  private socketFull(): boolean {
    return (this.socket as Duplex & { writableNeedDrain?: boolean }).writableNeedDrain === true;
  }

  /** END_STREAM is on its way: the stream is over once the client's side is too (else it is reset, as nghttp2 does). */
  private endSent(s: H2Stream): void {
    if (!s.remoteEnded) this.rstFrame(s.id, E.NO_ERROR);
    this.closeStream(s);
  }

  private closeStream(s: H2Stream): void {
    if (!this.streams.delete(s.id)) return;
    this.pending.delete(s);
    s.close();
    if (this.goawaySent && this.streams.size === 0) this.endSocket();
  }

  private reset(s: H2Stream, code: number): void {
    this.rstFrame(s.id, code);
    this.closeStream(s);
  }

  private rstFrame(id: number, code: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    this.frame(T.RST_STREAM, 0, id, p);
  }

  private windowUpdate(id: number, increment: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(increment);
    this.frame(T.WINDOW_UPDATE, 0, id, p);
  }

  private goaway(code: number, message: string): void {
    this.goawaySent = true;
    const p = Buffer.alloc(8 + Buffer.byteLength(message));
    p.writeUInt32BE(this.lastStreamId, 0);
    p.writeUInt32BE(code, 4);
    p.write(message, 8);
    this.frame(T.GOAWAY, 0, 0, p);
  }

  private fail(err: unknown): void {
    // headersFragment's FrameError and anything else unexpected: PROTOCOL_ERROR.
    const code =
      err instanceof ConnectionError
        ? err.code
        : err instanceof HpackError || err instanceof HuffmanError
          ? E.COMPRESSION_ERROR
          : E.PROTOCOL_ERROR;
    const message = err instanceof Error ? err.message : String(err);
    this.opts.onError?.(new Error(`HTTP/2 connection error: ${message}`));
    if (!this.goawaySent) this.goaway(code, message.slice(0, 200));
    this.endSocket();
    // Streams end now; the socket gets a moment to deliver the GOAWAY before it is torn down.
    const socket = this.socket;
    setTimeout(() => socket.destroy(), 1000).unref();
    this.destroy(false);
  }

  private endSocket(): void {
    if (this.socket.writableEnded) return;
    this.flush();
    this.socket.end();
  }

  /**
   * Queues one frame; everything queued in one turn of the event loop leaves in one write. The flush waits for
   * the loop's check phase (setImmediate), not a microtask: grpc-go sends a PING with every request, and an
   * acknowledgement flushed as a microtask left before the handler's own microtasks had answered, so every call
   * cost two writes (two wake-ups of the client) where one does (issue #21).
   */
  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    this.out.push(writeFrameHeader({ length: payload.length, type, flags, streamId: id }));
    if (payload.length > 0) this.out.push(payload);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket.destroyed) {
      this.out = [];
      return;
    }
    const out = this.out;
    this.out = [];
    // Small frames are joined (one copy of a few hundred bytes); big DATA payloads go as they are (writev).
    const total = out.reduce((n, b) => n + b.length, 0);
    if (total <= 16384) {
      this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out, total));
      this.backPressure();
      return;
    }
    this.socket.cork();
    for (const b of out) this.socket.write(b);
    this.socket.uncork();
    this.backPressure();
  }

  /** A client that stops reading also stops being read (until 'drain'), so what it makes this server write is bounded. */
  private backPressure(): void {
    if (this.socket.writableLength > MAX_BUFFERED_OUTPUT && !this.socket.isPaused()) this.socket.pause();
  }
}
