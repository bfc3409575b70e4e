/**
 * The call objects handed to the CRI handlers: the parts of grpc-js's ServerUnaryCall / ServerWritableStream
 * that crimux's handlers (src/cri/instrument.ts) use — `request`, `cancelled` and its 'cancelled' event,
 * `getDeadline()`, `metadata`; for server streaming `write()` (false under back-pressure, then 'drain'), `end()`
 * and `emit('error', {code, details})` — on top of one HTTP/2 stream. The handlers stay grpc-js handlers, so
 * either transport can serve them.
 *
 * One call ends exactly once: with its reply, with an error status, at its deadline, or because the client went
 * away (then it is `cancelled`). Whatever comes after that is ignored, as grpc-js ignores it.
 */
import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { encodeGrpcMessage, frameMessage, parseTimeout, CallError } from './framing';

/**
 * The part of an HTTP/2 server stream a call uses: node:http2's ServerHttp2Stream has it, and so has the lean
 * server's stream (src/cri/h2/stream.ts).
 */
export interface ServerStream {
  readonly destroyed: boolean;
  respond(headers: http2.OutgoingHttpHeaders, options?: http2.ServerStreamResponseOptions): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): void;
  sendTrailers(headers: http2.OutgoingHttpHeaders): void;
  resume(): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  once(event: string, listener: (...args: any[]) => void): unknown;
}

export interface Route {
  readonly path: string;
  readonly def: grpc.MethodDefinition<unknown, unknown>;
  readonly handler: grpc.UntypedHandleCall;
}

/** setTimeout fires at once for delays beyond this (2^31-1 ms, ~24.8 days); longer deadlines get no timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Response headers: grpc-go's own (no `date`, see sendDate below) plus the encodings crimux accepts, identity
 * only. Node copies this object on every respond(), so one constant serves every call.
 */
const RESPONSE_HEADERS = {
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': 'identity',
};
const OK_TRAILERS = { 'grpc-status': '0' };

/** Headers that are transport, not application metadata: grpc-js leaves the same ones out of call.metadata. */
const NOT_METADATA = ['grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'te', 'content-type'];

export class DirectCall extends EventEmitter {
  /** The deserialized request; set before the handler runs. */
  request: unknown = undefined;
  cancelled = false;
  /** When the call expires (ms since the epoch), Infinity without `grpc-timeout`. */
  readonly deadline: number = Infinity;
  private finished = false;
  private headersSent = false;
  private timer: NodeJS.Timeout | undefined;
  private md: grpc.Metadata | undefined;

  constructor(
    protected readonly stream: ServerStream,
    private readonly headers: http2.IncomingHttpHeaders,
    protected readonly route: Route,
    protected readonly maxMessageBytes: number,
  ) {
    super();
    stream.once('close', () => this.onClose());
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      const ms = parseTimeout(timeout);
      if (ms === undefined) {
        this.fail(new CallError(grpc.status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`));
        return;
      }
      this.deadline = Date.now() + ms;
      if (ms <= MAX_TIMER_MS) this.timer = setTimeout(() => this.expire(), ms);
    }
  }

  /** True once the call has ended, one way or another. */
  get done(): boolean {
    return this.finished;
  }

  getDeadline(): Date | number {
    return Number.isFinite(this.deadline) ? new Date(this.deadline) : Infinity;
  }

  getPath(): string {
    return this.route.path;
  }

  getPeer(): string {
    return 'unix:';
  }

  /** The request headers as grpc-js metadata, built only if asked for (no CRI handler reads it today). */
  get metadata(): grpc.Metadata {
    if (!this.md) {
      const md = grpc.Metadata.fromHttp2Headers(this.headers);
      for (const key of NOT_METADATA) md.remove(key);
      this.md = md;
    }
    return this.md;
  }

  /** The unary reply path: grpc-js's sendUnaryData callback. */
  readonly respond = (err: Partial<grpc.StatusObject> | grpc.ServerErrorResponse | null, value?: unknown): void => {
    if (err) {
      this.fail(err);
      return;
    }
    if (this.finished) return; // cancelled, expired, or answered already: the late reply is dropped
    const frame = this.serialize(value);
    if (!frame) return;
    this.finished = true;
    clearTimeout(this.timer);
    if (this.stream.destroyed) return;
    this.sendHeaders(true);
    this.stream.end(frame);
  };

  /** Ends the call with an error status (a CallError, or what a handler passed: {code, details}). */
  fail(err: { code?: number; details?: string; message?: string }): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const s = this.stream;
    if (s.destroyed) return;
    const code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
    const trailers = {
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(err.details ?? err.message ?? ''),
    };
    if (this.headersSent) {
      s.once('wantTrailers', () => s.sendTrailers(trailers));
      s.end();
      return;
    }
    // Trailers-Only: nothing was sent yet, so one HEADERS frame carries the status.
    s.respond({ ...RESPONSE_HEADERS, ...trailers }, {
      endStream: true,
      sendDate: false,
    } as http2.ServerStreamResponseOptions);
  }

  /** Serialized and framed, or undefined after failing the call (too large, or not serializable). */
  protected serialize(value: unknown): Buffer | undefined {
    let payload: Buffer;
    try {
      payload = this.route.def.responseSerialize(value);
    } catch (err) {
      this.fail({ code: grpc.status.INTERNAL, details: `Error serializing response: ${(err as Error).message}` });
      return undefined;
    }
    if (payload.length > this.maxMessageBytes) {
      this.fail({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${payload.length} vs. ${this.maxMessageBytes})`,
      });
      return undefined;
    }
    return frameMessage(payload);
  }

  /** HEADERS once per call; with endWithOk the OK trailers follow the last DATA frame. */
  protected sendHeaders(endWithOk: boolean): void {
    const s = this.stream;
    if (!this.headersSent) {
      this.headersSent = true;
      // waitForTrailers: Node emits 'wantTrailers' after the last DATA frame, where the status goes.
      s.respond(RESPONSE_HEADERS, { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions);
    }
    if (endWithOk) s.once('wantTrailers', () => s.sendTrailers(OK_TRAILERS));
  }

  /** Marks the end of the call without sending anything (streaming end()). */
  protected markFinished(): boolean {
    if (this.finished) return false;
    this.finished = true;
    clearTimeout(this.timer);
    return !this.stream.destroyed;
  }

  private expire(): void {
    this.fail({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    this.cancel();
  }

  private onClose(): void {
    if (this.finished) return;
    // The client reset the stream or the connection went away before the call ended.
    this.finished = true;
    clearTimeout(this.timer);
    this.cancel();
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
}

/** A server-streaming call: grpc-js's ServerWritableStream surface that instrument.ts's serverStream() uses. */
export class DirectStreamCall extends DirectCall {
  constructor(stream: ServerStream, headers: http2.IncomingHttpHeaders, route: Route, maxMessageBytes: number) {
    super(stream, headers, route, maxMessageBytes);
    // grpc-js's convention: a handler ends a stream with an error status by emitting it.
    this.on('error', (err: { code?: number; details?: string; message?: string }) => this.fail(err));
    stream.on('drain', () => this.emit('drain'));
  }

  /** False when the stream's buffer is full: wait for 'drain' (instrument.ts does). */
  write(value: unknown): boolean {
    if (this.done) return true;
    const frame = this.serialize(value);
    if (!frame || this.stream.destroyed) return true;
    this.sendHeaders(false);
    return this.stream.write(frame);
  }

  end(): void {
    if (!this.markFinished()) return;
    this.sendHeaders(true);
    this.stream.end();
  }
}
