/**
 * A Duplex between one accepted unix-socket connection and grpc-js's HTTP/2 server: bytes from the client go
 * through a FrameFilter (which makes every `:authority` acceptable to nghttp2, see ./authority.ts), bytes from the
 * server go to the socket unchanged. grpc-go clients up to kubelet 1.30 send the socket path as authority, and
 * nghttp2 resets every such stream with PROTOCOL_ERROR before grpc-js sees it; this is what lets them in.
 *
 * Failure stays local: a connection the filter refuses, or whose socket errors, is destroyed on its own, and
 * every error is reported to `onError` instead of being left unhandled (which would end the daemon).
 */
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { FrameFilter } from './frame-filter';

export class AuthorityFilterSocket extends Duplex {
  /**
   * @param frameFilter the connection's filter, possibly already fed (see connection.ts)
   * @param initial bytes that filter already produced, handed to the server first
   */
  constructor(
    private readonly socket: net.Socket,
    private readonly onError: (err: Error) => void,
    private readonly frameFilter = new FrameFilter(),
    initial: Buffer[] = [],
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: 256 * 1024 });
    if (initial.length) this.push(Buffer.concat(initial));
    // Errors of this Duplex (e.g. a write after the peer left) are the socket's errors, already reported there.
    this.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.fromClient(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => {
      this.onError(err);
      this.destroy();
    });
    socket.on('close', () => this.destroy());
  }

  private fromClient(chunk: Buffer): void {
    let out: Buffer[];
    try {
      out = this.frameFilter.push(chunk);
    } catch (err) {
      this.onError(err as Error);
      this.destroy();
      return;
    }
    if (out.length === 0) return;
    const bytes = out.length === 1 ? out[0]! : Buffer.concat(out);
    if (!this.push(bytes)) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.socket.write(chunks[i]!.chunk);
    this.socket.write(chunks[chunks.length - 1]!.chunk, done);
    this.socket.uncork();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}
