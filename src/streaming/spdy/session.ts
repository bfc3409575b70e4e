/**
 * A SPDY/3.1 session over any Duplex (an upgraded HTTP socket, or a WebSocket tunnel), for either role.
 *
 * Why our own and not `spdy-transport` (npm): its last release is from 2018; it models HTTP semantics (it resets
 * a SYN_REPLY without `:status`, and Kubernetes replies with no headers at all); and it enforces the peer's send
 * window, while the peer that matters — moby/spdystream in the kubelet, client-go, crictl and kubectl — never
 * sends WINDOW_UPDATE, so every stream would stall after 64 KiB. Kubernetes needs a small subset (SYN_STREAM,
 * SYN_REPLY, DATA, RST_STREAM, PING, GOAWAY, zlib header blocks), written here in a few files we can test.
 *
 * Flow control: like spdystream we do not enforce the peer's window (its WINDOW_UPDATEs are ignored), but for
 * strict SPDY/3.1 peers we announce consumed data every 32 KiB, per stream and for the session. Backpressure
 * towards the peer is by pausing the socket while any stream's reader is full.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  FrameParser,
  GoAwayStatus,
  RstStatus,
  SpdyProtocolError,
  encodeData,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  type Frame,
} from './frames';
import {
  HeaderInflater,
  StoredHeaderDeflater,
  ZlibHeaderDeflater,
  encodeHeaderBlock,
  type HeaderDeflater,
  type SpdyHeaders,
} from './header-codec';
import { OrderedQueue } from './ordered-queue';
import { SpdyStream, type StreamHost } from './stream';

export interface SpdySessionOptions {
  readonly role: 'server' | 'client';
  /** 'stored' (default) keeps header encoding synchronous; 'zlib' compresses like Go does (test clients). */
  readonly headerCompression?: 'stored' | 'zlib';
  /** Peer-opened streams alive at once; more are refused (bounds memory per connection). */
  readonly maxStreams?: number;
}

const WINDOW_UPDATE_EVERY = 32 * 1024;

/**
 * Events: 'stream' (SpdyStream opened by the peer: call accept() or reset()), 'goaway', 'close' (once, with the
 * error that ended the session if any).
 */
export class SpdySession extends EventEmitter implements StreamHost {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly parser = new FrameParser();
  private readonly inflater = new HeaderInflater();
  private readonly deflater: HeaderDeflater;
  private readonly blocked = new Set<SpdyStream>();
  private readonly unacked = new Map<number, number>();
  private readonly pings = new Map<number, () => void>();
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  /** Frames in: handling waits for header inflation (async), so later frames stay in order behind it. */
  private readonly inQueue = new OrderedQueue((err) => this.protocolError(err));
  /** Frames out: a SYN_STREAM whose header block is still compressing must precede its DATA. */
  private readonly outQueue = new OrderedQueue((err) =>
    this.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  private closed = false;
  goneAway = false;

  constructor(
    readonly socket: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    super();
    const server = opts.role === 'server';
    this.nextStreamId = server ? 2 : 1;
    this.nextPingId = server ? 2 : 1;
    this.deflater = opts.headerCompression === 'zlib' ? new ZlibHeaderDeflater() : new StoredHeaderDeflater();
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    // Frames already read may still wait for header inflation: handle them before tearing down.
    socket.on('end', () => this.inQueue.then(() => this.destroy()));
    socket.on('close', () => this.inQueue.then(() => this.destroy()));
    socket.on('error', (err: Error) => this.destroy(err));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Open a stream (normally the client's job in Kubernetes) and wait for the peer's SYN_REPLY. */
  async openStream(headers: Record<string, string>, timeoutMs = 30_000): Promise<SpdyStream> {
    if (this.closed || this.goneAway) throw new Error('spdy session is closed');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]])), {
      replied: false,
    });
    this.streams.set(id, stream);
    const block = this.deflater.deflate(encodeHeaderBlock(headers));
    this.send(block instanceof Promise ? block.then((b) => encodeSynStream(id, b)) : encodeSynStream(id, block));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        stream.waitReply(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no SYN_REPLY for stream ${id} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      stream.reset();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return stream;
  }

  /** Round trip to the peer. */
  ping(timeoutMs = 10_000): Promise<void> {
    const id = this.nextPingId;
    this.nextPingId += 2;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new Error('spdy ping timed out'));
      }, timeoutMs);
      this.pings.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.send(encodePing(id));
    });
  }

  /**
   * Graceful end: GOAWAY, then close our side of the socket once written; the socket is destroyed if the peer
   * has not closed within graceMs (bounded, so no half-dead sockets linger).
   */
  close(graceMs = 5000): void {
    if (this.closed) return;
    if (!this.goneAway) {
      this.goneAway = true;
      this.send(encodeGoAway(this.lastPeerStreamId, GoAwayStatus.OK));
    }
    this.outQueue.then(() => {
      this.socket.end();
      setTimeout(() => this.destroy(), graceMs).unref();
    });
  }

  /** Immediate teardown: every stream ends, the socket is destroyed. Idempotent. */
  destroy(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) s.onReset(err ? `session failed: ${err.message}` : 'session closed');
    this.streams.clear();
    this.blocked.clear();
    this.inflater.close();
    this.deflater.close();
    this.socket.destroy();
    this.emit('close', err);
  }

  // ---- StreamHost ----

  sendData(id: number, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    this.send(encodeData(id, data, fin), cb);
  }

  sendReset(id: number, status: number): void {
    this.send(encodeRstStream(id, status));
  }

  sendReply(id: number): void {
    const block = this.deflater.deflate(encodeHeaderBlock({}));
    this.send(block instanceof Promise ? block.then((b) => encodeSynReply(id, b)) : encodeSynReply(id, block));
  }

  block(stream: SpdyStream): void {
    this.blocked.add(stream);
    this.socket.pause();
  }

  unblock(stream: SpdyStream): void {
    if (this.blocked.delete(stream) && this.blocked.size === 0 && !this.closed) this.socket.resume();
  }

  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.unacked.delete(stream.id);
  }

  // ---- internals ----

  /** Writes stay in call order even when a header block is still being compressed. */
  private send(frame: Buffer | Promise<Buffer>, cb?: (err?: Error | null) => void): void {
    if (this.closed) {
      cb?.(new Error('spdy session is closed'));
      return;
    }
    if (frame instanceof Promise)
      frame.catch((err: unknown) => cb?.(err instanceof Error ? err : new Error(String(err))));
    this.outQueue.run(frame, (bytes) => {
      if (this.closed) cb?.(new Error('spdy session is closed'));
      else this.socket.write(bytes, cb);
    });
  }

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      return this.protocolError(err);
    }
    for (const f of frames) {
      const needsHeaders = f.kind === 'syn_stream' || f.kind === 'syn_reply' || f.kind === 'headers';
      this.inQueue.run(needsHeaders ? this.inflater.inflate(f.block) : undefined, (headers) => {
        if (!this.closed) this.handle(f, headers);
      });
    }
  }

  private handle(f: Frame, headers: SpdyHeaders | undefined): void {
    switch (f.kind) {
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) return; // a stream we already forgot (reset or fully closed): drop, as spdystream does
        s.onData(f.data, f.fin);
        this.ack(f.streamId, f.data.length);
        return;
      }
      case 'syn_stream':
        return this.onSynStream(f.streamId, f.fin, headers ?? new Map());
      case 'syn_reply':
        this.streams.get(f.streamId)?.onReply();
        if (f.fin) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      case 'headers':
        if (f.fin) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      case 'rst_stream':
        this.streams.get(f.streamId)?.onReset(`stream reset by peer (status ${f.status})`);
        return;
      case 'ping':
        if (f.id % 2 !== this.nextPingId % 2) this.send(encodePing(f.id));
        else this.pings.get(f.id)?.();
        this.pings.delete(f.id);
        return;
      case 'goaway':
        this.goneAway = true;
        this.emit('goaway', f.status);
        return;
      case 'window_update':
      case 'settings':
      case 'unknown':
        return; // see the file comment on flow control; unknown control frames must be ignored (spec 2.2.1)
    }
  }

  private onSynStream(id: number, fin: boolean, headers: SpdyHeaders): void {
    const peerParity = this.opts.role === 'server' ? 1 : 0;
    if (id === 0 || id % 2 !== peerParity || id <= this.lastPeerStreamId) {
      this.send(encodeRstStream(id || 1, RstStatus.PROTOCOL_ERROR));
      return;
    }
    this.lastPeerStreamId = id;
    const max = this.opts.maxStreams ?? 1000;
    if (this.goneAway || this.streams.size >= max || this.listenerCount('stream') === 0) {
      this.send(encodeRstStream(id, RstStatus.REFUSED_STREAM));
      return;
    }
    const stream = new SpdyStream(this, id, headers, { replied: false });
    this.streams.set(id, stream);
    if (fin) stream.onRemoteFin();
    this.emit('stream', stream);
  }

  private ack(streamId: number, n: number): void {
    if (n === 0) return;
    const s = (this.unacked.get(streamId) ?? 0) + n;
    const session = (this.unacked.get(0) ?? 0) + n;
    if (s >= WINDOW_UPDATE_EVERY) {
      this.send(encodeWindowUpdate(streamId, s));
      this.unacked.set(streamId, 0);
    } else this.unacked.set(streamId, s);
    if (session >= WINDOW_UPDATE_EVERY) {
      this.send(encodeWindowUpdate(0, session));
      this.unacked.set(0, 0);
    } else this.unacked.set(0, session);
  }

  private protocolError(err: unknown): void {
    if (this.closed) return;
    const e = err instanceof Error ? err : new Error(String(err));
    if (e instanceof SpdyProtocolError)
      this.socket.write(encodeGoAway(this.lastPeerStreamId, GoAwayStatus.PROTOCOL_ERROR));
    this.destroy(e);
  }
}
