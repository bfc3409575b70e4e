/**
 * One request stream of the lean HTTP/2 server (session.ts), with the part of node:http2's ServerHttp2Stream that
 * the gRPC call layer (src/cri/direct/call.ts) uses: 'data' / 'end' for the request body, respond() for the
 * response HEADERS, write() / end() for DATA (false from write() under back-pressure, then 'drain'),
 * 'wantTrailers' + sendTrailers() to end with trailers, and 'close' once the stream is over either way.
 * A plain EventEmitter, not a stream.Duplex: a call costs a few objects, not a Readable and a Writable.
 */
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http2';

/** What the stream needs from its session. */
export interface StreamSink {
  sendHeaders(stream: H2Stream, headers: OutgoingHttpHeaders, endStream: boolean): void;
  /** Queues DATA (flow control permitting it is sent at once); `endStream` marks the last of it. */
  sendData(stream: H2Stream, data: Buffer | undefined, endStream: boolean): void;
  /** Bytes of DATA queued on the stream and not yet handed to the socket. */
  queuedBytes(stream: H2Stream): number;
}

/** Queued response bytes above which write() asks the caller to wait for 'drain'. */
const HIGH_WATER_MARK = 64 * 1024;

export class H2Stream extends EventEmitter {
  destroyed = false;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  /** END_STREAM was sent or queued. */
  localEnded = false;
  private responded = false;
  private trailersWanted = false;
  /** end() was called with waitForTrailers: 'wantTrailers' comes once the queued DATA has gone. */
  private awaitingTrailers = false;
  /** write() returned false: 'drain' is owed. */
  needDrain = false;
  /** Flow control: what the client lets this stream receive, in bytes. */
  sendWindow: number;

  constructor(
    readonly id: number,
    private readonly sink: StreamSink,
    initialWindow: number,
  ) {
    super();
    this.sendWindow = initialWindow;
  }

  respond(headers: OutgoingHttpHeaders, options: { endStream?: boolean; waitForTrailers?: boolean } = {}): void {
    if (this.destroyed || this.responded) return;
    this.responded = true;
    this.trailersWanted = options.waitForTrailers === true;
    const end = options.endStream === true;
    this.sink.sendHeaders(this, headers, end);
    if (end) this.finishLocal();
  }

  write(data: Buffer): boolean {
    if (this.destroyed || this.localEnded) return true;
    if (data.length > 0) this.sink.sendData(this, data, false);
    const ok = this.sink.queuedBytes(this) < HIGH_WATER_MARK;
    if (!ok) this.needDrain = true;
    return ok;
  }

  end(data?: Buffer): void {
    if (this.destroyed || this.localEnded) return;
    if (this.trailersWanted) {
      if (data && data.length > 0) this.sink.sendData(this, data, false);
      this.awaitingTrailers = true;
      this.flushed(); // at once when nothing waits for the flow-control window
      return;
    }
    this.sink.sendData(this, data, true);
    this.finishLocal();
  }

  sendTrailers(headers: OutgoingHttpHeaders): void {
    if (this.destroyed || this.localEnded) return;
    this.sink.sendHeaders(this, headers, true);
    this.finishLocal();
  }

  /** No-op: request DATA is delivered as 'data' events whether or not anyone listens. */
  resume(): this {
    return this;
  }

  /** Called by the session when the stream's queued DATA has all gone to the socket. */
  flushed(): void {
    if (this.awaitingTrailers && this.sink.queuedBytes(this) === 0) {
      this.awaitingTrailers = false;
      this.emit('wantTrailers');
    }
    if (this.needDrain && this.sink.queuedBytes(this) < HIGH_WATER_MARK) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  /** The stream is over (both sides ended, reset, or the connection went): 'close', once. */
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  /** The session closes (or resets) the stream once its END_STREAM has actually gone out. */
  private finishLocal(): void {
    this.localEnded = true;
  }
}
