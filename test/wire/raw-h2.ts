/**
 * Raw HTTP/2 for tests (not a test file): frame builders and a minimal client connection over a unix socket that
 * writes exactly the bytes a test gives it and records the frames the server sends back.
 */
import net from 'node:net';
import {
  CLIENT_PREFACE,
  FRAME_HEADER_LENGTH,
  readFrameHeader,
  writeFrameHeader,
  type FrameHeader,
} from '../../src/cri/wire/frames';

export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([writeFrameHeader({ length: payload.length, type, flags, streamId }), payload]);
}

export interface HeadersOptions {
  /** Split the block into fragments at these offsets: HEADERS then CONTINUATION frames. */
  splitAt?: number[];
  padding?: number;
  priority?: boolean;
  endStream?: boolean;
}

export function headersFrames(streamId: number, block: Buffer, o: HeadersOptions = {}): Buffer {
  const cuts = [0, ...(o.splitAt ?? []).filter((c) => c > 0 && c < block.length), block.length];
  const frames: Buffer[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const fragment = block.subarray(cuts[i], cuts[i + 1]);
    const last = i + 2 === cuts.length ? F.END_HEADERS : 0;
    if (i > 0) {
      frames.push(frame(T.CONTINUATION, last, streamId, fragment));
      continue;
    }
    let flags = last | (o.endStream ? F.END_STREAM : 0);
    const parts: Buffer[] = [];
    if (o.padding !== undefined) {
      flags |= F.PADDED;
      parts.push(Buffer.from([o.padding]));
    }
    if (o.priority) {
      flags |= F.PRIORITY;
      parts.push(Buffer.from([0x80, 0, 0, 0, 200])); // exclusive on stream 0, weight 201
    }
    parts.push(fragment, Buffer.alloc(o.padding ?? 0, 0));
    frames.push(frame(T.HEADERS, flags, streamId, Buffer.concat(parts)));
  }
  return Buffer.concat(frames);
}

/** An empty gRPC message (VersionRequest{}) as the request's only DATA frame. */
export function emptyMessage(streamId: number): Buffer {
  return frame(T.DATA, F.END_STREAM, streamId, Buffer.alloc(5));
}

export interface ServerFrame extends FrameHeader {
  payload: Buffer;
}

export class RawConnection {
  readonly frames: ServerFrame[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Whether this client ACKs the server's SETTINGS (a correct client does). */
  ackSettings = true;
  /** While set, automatic replies (SETTINGS ACK, WINDOW_UPDATE) are queued, not written: see flushReplies. */
  holdReplies = false;
  private heldReplies: Buffer[] = [];

  static async open(path: string, preface = true, ackSettings = true): Promise<RawConnection> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RawConnection(socket);
    c.ackSettings = ackSettings;
    if (preface) {
      c.write(Buffer.concat([CLIENT_PREFACE, frame(T.SETTINGS, 0, 0)]));
      // The ACK this client writes for the server's SETTINGS must not land inside a frame a test writes in pieces.
      await c.until('server SETTINGS', () => c.frames.some((f) => f.type === T.SETTINGS && !(f.flags & F.ACK)));
    }
    return c;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Writes the replies queued while holdReplies was set (a test writing a frame in pieces sets it). */
  flushReplies(): void {
    this.holdReplies = false;
    for (const b of this.heldReplies.splice(0)) this.write(b);
  }

  private reply(bytes: Buffer): void {
    if (this.holdReplies) this.heldReplies.push(bytes);
    else this.write(bytes);
  }

  /** Waits (bounded) until check() holds; rejects with what was seen otherwise. */
  async until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${this.summary()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** True when the stream got a response message and its trailers, and no reset. */
  answered(streamId: number): boolean {
    const mine = this.frames.filter((f) => f.streamId === streamId);
    return (
      mine.some((f) => f.type === T.DATA && f.length > 5) &&
      mine.some((f) => f.type === T.HEADERS && f.flags & F.END_STREAM)
    );
  }

  reset(streamId: number): boolean {
    return this.frames.some((f) => f.streamId === streamId && f.type === T.RST_STREAM);
  }

  goaway(): boolean {
    return this.frames.some((f) => f.type === T.GOAWAY);
  }

  summary(): string {
    return this.frames.map((f) => `${f.type}/${f.streamId}/${f.flags}`).join(' ') + (this.closed ? ' closed' : '');
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, d]);
    while (this.buffered.length >= FRAME_HEADER_LENGTH) {
      const h = readFrameHeader(this.buffered, 0);
      if (this.buffered.length < FRAME_HEADER_LENGTH + h.length) break;
      const payload = this.buffered.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + h.length);
      this.buffered = this.buffered.subarray(FRAME_HEADER_LENGTH + h.length);
      this.frames.push({ ...h, payload });
      if (h.type === T.SETTINGS && !(h.flags & F.ACK) && this.ackSettings) this.reply(frame(T.SETTINGS, F.ACK, 0));
      // Keep the server's flow-control windows open for large replies.
      if (h.type === T.DATA && h.length > 0) {
        const inc = Buffer.alloc(4);
        inc.writeUInt32BE(h.length);
        this.reply(Buffer.concat([frame(T.WINDOW_UPDATE, 0, 0, inc), frame(T.WINDOW_UPDATE, 0, h.streamId, inc)]));
      }
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
