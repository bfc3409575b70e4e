/**
 * The "direct" CRI transport: gRPC served straight from Node's HTTP/2 server (node:http2 over nghttp2), without
 * grpc-js's per-call machinery (interceptor chain, call state objects, per-call metadata and channelz
 * bookkeeping), which made every answered-from-memory RPC cost about twice containerd's (issue #21).
 *
 * What a gRPC server must do (grpc/grpc doc/PROTOCOL-HTTP2.md) and where it is done:
 * - POST only (else HTTP 405), `content-type: application/grpc[+proto|;…]` only (else HTTP 415), both ending
 *   the stream at once; `:path` routed from the loaded proto's service definitions, an unknown one answered
 *   UNIMPLEMENTED — here.
 * - request bytes: length-prefixed messages reassembled across DATA frames, compression refused, size limit —
 *   framing.ts; exactly one request message per call (0 or 2+ → UNIMPLEMENTED, as grpc-js) — here.
 * - deadline, cancellation, the reply (HEADERS, DATA, trailers with grpc-status / percent-encoded grpc-message,
 *   or Trailers-Only for an error) and server streaming with back-pressure — call.ts.
 * - connection level (SETTINGS, flow control, PING answers, GOAWAY): nghttp2 itself; the graceful shutdown
 *   below only asks for GOAWAY and waits.
 * Connections are handed in (injectConnection), never accepted here: src/cri/server.ts owns the socket and the
 * authority filter (src/cri/wire/) for old kubelets.
 */
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log/logger';
import { DirectCall, DirectStreamCall, type Route, type ServerStream } from './call';
import { H2Session } from '../h2/session';
import { MAX_HEADER_BLOCK } from '../wire/frame-filter';
import { CallError, MessageReader } from './framing';

export interface DirectServerOptions {
  maxMessageBytes: number;
  log: Logger;
  /** The HTTP/2 layer: node:http2 (nghttp2), or crimux's lean server (src/cri/h2/). */
  http2: 'node' | 'lean';
}

/** What shutdown needs of a connection, on either HTTP/2 layer. */
interface Session {
  close(): void;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

export class DirectServer {
  private readonly h2: http2.Http2Server | undefined;
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<Session>();
  private shuttingDown = false;

  constructor(private readonly opts: DirectServerOptions) {
    if (opts.http2 === 'lean') return;
    this.h2 = http2.createServer({
      // As grpc-js does: Node's default 10 MB per-session memory cap answers ENHANCE_YOUR_CALM to a kubelet
      // moving 16 MiB messages; the message limit bounds each call instead.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    });
    this.h2.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.h2.on('session', (session) => {
      if (this.shuttingDown) return void session.destroy();
      this.track(session);
    });
    this.h2.on('sessionError', (err) => this.opts.log.debug('CRI connection error', { error: err.message }));
  }

  /** Serves every method of `service` with its handler in `impl` (grpc-js's handler map), like Server.addService. */
  addService(service: grpc.ServiceDefinition, impl: object): void {
    const handlers = impl as Record<string, grpc.UntypedHandleCall | undefined>;
    for (const [name, def] of Object.entries(service) as [string, grpc.MethodDefinition<unknown, unknown>][]) {
      // Client and bidi streaming RPCs do not exist in the CRI; such a method stays UNIMPLEMENTED.
      if (def.requestStream) continue;
      const handler = handlers[name] ?? (def.originalName ? handlers[def.originalName] : undefined);
      if (handler) this.routes.set(def.path, { path: def.path, def, handler });
    }
  }

  /** Starts HTTP/2 on an accepted connection (a net.Socket or the authority filter's Duplex). */
  injectConnection(conn: Duplex): void {
    if (this.shuttingDown) return void conn.destroy();
    if (this.h2) return void this.h2.emit('connection', conn);
    const session = new H2Session(conn, {
      maxHeaderBlock: MAX_HEADER_BLOCK,
      onStream: (stream, headers) => this.onStream(stream, headers),
      onError: (err) => this.opts.log.debug('CRI connection error', { error: err.message }),
    });
    this.track(session);
  }

  private track(session: Session): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
  }

  /**
   * Graceful: every session gets GOAWAY (Node's session.close(): streams already opened run to completion,
   * later ones are refused so the client retries elsewhere) and `done` runs once all sessions have closed.
   */
  tryShutdown(done: () => void): void {
    this.shuttingDown = true;
    let left = this.sessions.size;
    if (left === 0) return void process.nextTick(done);
    for (const session of this.sessions) {
      session.once('close', () => {
        if (--left === 0) done();
      });
      session.close();
    }
  }

  /** Ends every session now: open calls see their stream close and are cancelled. */
  forceShutdown(): void {
    this.shuttingDown = true;
    for (const session of this.sessions) session.destroy();
  }

  /** Nothing outlives the server: sessions left after either shutdown are ended. */
  close(): void {
    this.forceShutdown();
  }

  private onStream(stream: ServerStream, headers: http2.IncomingHttpHeaders): void {
    // A reset by the client, or a write after it left, surfaces as the stream's 'error'; the call's 'close'
    // handling is what matters, and an unhandled 'error' would end the daemon.
    stream.on('error', ignore);
    if (headers[':method'] !== 'POST') return void refuse(stream, 405);
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      return void refuse(stream, 415);
    }
    const path = headers[':path'] ?? '';
    const route = this.routes.get(path);
    if (!route) {
      const call = new DirectCall(stream, headers, { path, def: NO_METHOD, handler: ignore }, 0);
      call.fail({ code: grpc.status.UNIMPLEMENTED, details: `The server does not implement the method ${path}` });
      stream.resume(); // read and drop the request so its flow-control window keeps moving
      return;
    }
    const streaming = route.def.responseStream;
    const call = streaming
      ? new DirectStreamCall(stream, headers, route, this.opts.maxMessageBytes)
      : new DirectCall(stream, headers, route, this.opts.maxMessageBytes);
    this.readRequest(stream, headers, call, route, streaming);
  }

  /** Collects the one request message, then runs the handler; DATA after the call ended is read and dropped. */
  private readRequest(
    stream: ServerStream,
    headers: http2.IncomingHttpHeaders,
    call: DirectCall,
    route: Route,
    streaming: boolean,
  ): void {
    const encoding = headers['grpc-encoding'];
    const reader = new MessageReader(this.opts.maxMessageBytes, typeof encoding === 'string' ? encoding : 'identity');
    let request: Buffer | undefined;
    let extra = false;
    stream.on('data', (chunk: Buffer) => {
      if (call.done) return;
      try {
        for (const message of reader.push(chunk)) {
          if (request) extra = true;
          else request = message;
        }
      } catch (err) {
        call.fail(err as CallError);
        return;
      }
      if (extra) {
        call.fail({
          code: grpc.status.UNIMPLEMENTED,
          details: `Received a second request message for server streaming method ${route.path}`,
        });
      }
    });
    stream.once('end', () => {
      if (call.done) return;
      if (reader.partial) {
        return void call.fail({ code: grpc.status.INTERNAL, details: 'request ended inside a message' });
      }
      if (!request) {
        return void call.fail({
          code: grpc.status.UNIMPLEMENTED,
          details: `Received no request message for server streaming method ${route.path}`,
        });
      }
      try {
        call.request = route.def.requestDeserialize(request);
      } catch (err) {
        return void call.fail({
          code: grpc.status.INTERNAL,
          details: `Error deserializing request: ${(err as Error).message}`,
        });
      }
      try {
        if (streaming) (route.handler as grpc.handleServerStreamingCall<unknown, unknown>)(call as never);
        else (route.handler as grpc.handleUnaryCall<unknown, unknown>)(call as never, call.respond);
      } catch (err) {
        // A handler that throws synchronously (instrument.ts's never do): the call still gets a status.
        call.fail({ code: grpc.status.UNKNOWN, details: (err as Error).message });
      }
    });
  }
}

function ignore(): void {}

/** Not gRPC at all (wrong method or content type): a plain HTTP status, so no HTTP client mistakes it for OK. */
function refuse(stream: ServerStream, httpStatus: number): void {
  stream.respond({ ':status': httpStatus }, { endStream: true });
  stream.resume();
}

/** The definition behind the UNIMPLEMENTED answer to an unknown path: never serializes anything. */
const NO_METHOD = {
  path: '',
  requestStream: false,
  responseStream: false,
  requestSerialize: () => Buffer.alloc(0),
  requestDeserialize: () => undefined,
  responseSerialize: () => Buffer.alloc(0),
  responseDeserialize: () => undefined,
} as grpc.MethodDefinition<unknown, unknown>;
