/**
 * Newline-delimited JSON over a unix socket: the framing both QMP and the guest agent use. Scans only new bytes
 * for '\n' (rescanning a growing buffer is quadratic — notes §8) and drops a line that would exceed maxLine.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { UnavailableError } from '../../errors';
import { connectWhenListening } from '../../host/wait';
import { MAX_LINE_BYTES } from './protocol';

export class JsonLines extends EventEmitter {
  private parts: Buffer[] = [];
  private partLen = 0;
  private closed = false;

  private constructor(
    private readonly sock: net.Socket,
    private readonly maxLine: number,
  ) {
    super();
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
    sock.on('error', (err) => this.emit('error', err));
  }

  /** Connect, retrying while the socket file is missing or refusing (qemu still starting) until timeoutMs. */
  static async connect(path: string, timeoutMs: number, maxLine = MAX_LINE_BYTES): Promise<JsonLines> {
    const sock = await connectWhenListening(path, timeoutMs, 50).catch((err: unknown) => {
      throw new UnavailableError(`connect ${path}: ${err instanceof Error ? err.message : 'timed out'}`, {
        cause: err,
      });
    });
    return new JsonLines(sock, maxLine);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(obj: unknown): void {
    if (this.closed) throw new UnavailableError('send: channel closed');
    this.sock.write(JSON.stringify(obj) + '\n');
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(b: Buffer): void {
    let start = 0;
    for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, start)) {
      this.parts.push(b.subarray(start, i));
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.partLen = 0;
      start = i + 1;
      if (line.trim() === '') continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // half a line left over from a previous connection
      }
      // Both protocols send one object per line. Anything else (`null`, a number) is the peer misbehaving — the
      // guest runs untrusted code — and would make the consumers' property reads throw inside this socket
      // callback, an uncaught exception that ends the daemon.
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) continue;
      this.emit('message', msg);
    }
    if (start < b.length) {
      this.parts.push(b.subarray(start));
      this.partLen += b.length - start;
      if (this.partLen > this.maxLine) {
        this.parts = [];
        this.partLen = 0;
      }
    }
  }
}
