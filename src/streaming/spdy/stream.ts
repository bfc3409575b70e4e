/**
 * One SPDY stream as a Node Duplex: the readable side carries the peer's DATA (ends on the peer's FIN or a reset),
 * the writable side sends DATA (end() sends FIN). Half-close is independent in each direction, as in SPDY.
 */
import { Duplex } from 'node:stream';
import type { SpdyHeaders } from './header-codec';
import { RstStatus } from './frames';

/** What a stream needs from its session; keeps stream.ts free of the session's internals. */
export interface StreamHost {
  sendData(id: number, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void;
  sendReset(id: number, status: number): void;
  sendReply(id: number): void;
  /** The readable side is full: stop reading the socket until unblock(). */
  block(stream: SpdyStream): void;
  unblock(stream: SpdyStream): void;
  forget(stream: SpdyStream): void;
}

/** Frames above this size are split, so one busy stream cannot hog the connection. */
const MAX_DATA_FRAME = 32 * 1024;

export class SpdyStream extends Duplex {
  private remoteEnded = false;
  private localEnded = false;
  private wasReset = false;
  private replyWaiters: Array<(err?: Error) => void> = [];
  private replied: boolean;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
    readonly headers: SpdyHeaders,
    opts: { replied: boolean },
  ) {
    super({ allowHalfOpen: true });
    this.replied = opts.replied;
    // Stream failures (a reset, a dead connection) end the stream; they must never become an unhandled 'error'
    // that takes the daemon down. Consumers see them through finished()/pipeline() and the session's events.
    this.on('error', () => undefined);
  }

  /** First value of a header (names are lower-case on the wire; Go canonicalizes them on its side). */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  /** Server side: accept a stream the peer opened (sends SYN_REPLY). */
  accept(): void {
    if (this.replied) return;
    this.replied = true;
    this.host.sendReply(this.id);
  }

  /** Abort both directions with RST_STREAM (CANCEL unless told otherwise). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.wasReset || this.destroyed) return;
    this.wasReset = true;
    if (!(this.remoteEnded && this.localEnded)) this.host.sendReset(this.id, status);
    this.destroy();
  }

  /** Client side: resolves once the peer's SYN_REPLY arrived. */
  waitReply(): Promise<void> {
    if (this.replied) return Promise.resolve();
    return new Promise((resolve, reject) => this.replyWaiters.push((err) => (err ? reject(err) : resolve())));
  }

  // ---- called by the session ----

  onReply(): void {
    this.replied = true;
    for (const w of this.replyWaiters.splice(0)) w();
  }

  onData(data: Buffer, fin: boolean): void {
    if (this.remoteEnded) return;
    if (data.length && !this.push(data)) this.host.block(this);
    if (fin) this.onRemoteFin();
  }

  onRemoteFin(): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.push(null);
    this.maybeForget();
  }

  /** The peer reset the stream, or the session died. */
  onReset(reason: string): void {
    if (this.destroyed) return;
    this.wasReset = true;
    for (const w of this.replyWaiters.splice(0)) w(new Error(reason));
    // A reset is not an error for the consumers here (k8s clients reset streams on normal teardown), so end
    // quietly rather than emitting 'error'; data that already arrived stays readable.
    this.localEnded = true;
    if (!this.remoteEnded) {
      this.remoteEnded = true;
      this.push(null);
    }
    if (this.readableLength > 0 && !this.readableEnded) this.once('end', () => this.destroy());
    else this.destroy();
  }

  // ---- Duplex implementation ----

  override _read(): void {
    this.host.unblock(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.wasReset) return cb(new Error(`spdy stream ${this.id} was reset`));
    this.sendChunks(chunk, 0, cb);
  }

  private sendChunks(chunk: Buffer, off: number, cb: (err?: Error | null) => void): void {
    const end = Math.min(chunk.length, off + MAX_DATA_FRAME);
    this.host.sendData(this.id, chunk.subarray(off, end), false, (err) => {
      if (err || end >= chunk.length) return cb(err);
      this.sendChunks(chunk, end, cb);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.wasReset) return cb();
    this.localEnded = true;
    this.host.sendData(this.id, Buffer.alloc(0), true, () => cb());
    this.maybeForget();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.wasReset && !(this.remoteEnded && this.localEnded)) {
      this.wasReset = true;
      this.host.sendReset(this.id, RstStatus.CANCEL);
    }
    for (const w of this.replyWaiters.splice(0)) w(new Error(`spdy stream ${this.id} destroyed`));
    this.host.unblock(this);
    this.host.forget(this);
    cb(err);
  }

  private maybeForget(): void {
    if (this.remoteEnded && this.localEnded) this.host.forget(this);
  }
}
