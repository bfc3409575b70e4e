/**
 * Kubernetes' channel protocol over one WebSocket (apimachinery wsstream): every message starts with a channel
 * number — a raw byte for the binary protocols (channel.k8s.io, v4.channel.k8s.io, v5.channel.k8s.io), an
 * ASCII digit followed by base64 data for the base64 ones (text messages). v5 adds the close signal: a message
 * [255, channel] half-closes that channel (how a v5 client says "stdin is done").
 *
 * Each channel is exposed as a plain Readable (what the client sends) and/or Writable (what we send), so the
 * session code is the same as over SPDY.
 */
import { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';

export type ChannelCodec = 'binary' | 'base64';

/** The v5 stream-close signal (k8s.io/apimachinery/pkg/util/remotecommand.StreamClose). */
export const STREAM_CLOSE = 255;

export class WsChannels {
  private readonly readers = new Map<number, Readable>();
  private readonly blocked = new Set<number>();
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    private readonly codec: ChannelCodec,
    opts: { readable: readonly number[]; closeSignal: boolean },
  ) {
    for (const ch of opts.readable) {
      this.readers.set(ch, new Readable({ read: () => this.unblock(ch) }));
    }
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      this.onMessage(toBuffer(data), isBinary, opts.closeSignal),
    );
    ws.on('close', () => this.onClose());
    ws.on('error', () => this.onClose());
  }

  /** What the client sends on a channel; undefined for channels that are not readable in this session. */
  reader(ch: number): Readable | undefined {
    return this.readers.get(ch);
  }

  /** A Writable sending each chunk as one message on the channel. end() sends nothing (only the close ends). */
  writer(ch: number): Writable {
    const w = new Writable({
      write: (chunk: Buffer, _enc, cb) => this.send(ch, chunk, cb),
    });
    w.on('error', () => undefined); // a closed WebSocket ends the session; it must not crash the daemon
    return w;
  }

  /** Send one message on a channel (an empty payload is the "channel open" notice Kubernetes sends first). */
  send(ch: number, data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) {
      cb?.(new Error('websocket is closed'));
      return;
    }
    if (this.codec === 'binary') this.ws.send(Buffer.concat([Buffer.of(ch), data]), { binary: true }, cb);
    else this.ws.send(String.fromCharCode(48 + ch) + data.toString('base64'), { binary: false }, cb);
  }

  /** Close the WebSocket normally (clients read EOF on every channel only after a normal close). */
  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  private onMessage(data: Buffer, isBinary: boolean, closeSignal: boolean): void {
    if (data.length === 0) return;
    let ch = data[0] ?? 0;
    let payload = data.subarray(1);
    if (this.codec === 'base64' && !isBinary) {
      ch -= 48;
      payload = Buffer.from(payload.toString('latin1'), 'base64');
    }
    if (closeSignal && data[0] === STREAM_CLOSE) {
      const target = payload[0];
      if (target !== undefined) this.readers.get(target)?.push(null);
      return;
    }
    const r = this.readers.get(ch);
    if (!r || r.readableEnded || payload.length === 0) return; // like wsstream: frames for unknown channels are dropped
    if (!r.push(payload)) {
      this.blocked.add(ch);
      this.ws.pause();
    }
  }

  private unblock(ch: number): void {
    if (this.blocked.delete(ch) && this.blocked.size === 0 && !this.closed) this.ws.resume();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.readers.values()) if (!r.readableEnded) r.push(null);
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
