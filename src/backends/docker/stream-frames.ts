/**
 * Docker's multiplexed stream format (logs and exec of non-TTY containers): each frame is an 8-byte header —
 * stream type (0 stdin, 1 stdout, 2 stderr, 3 system error), three zero bytes, big-endian uint32 payload length —
 * followed by the payload. Docker writes one log message per frame, which is what lets the log copier keep each
 * message's timestamp and partial-line marker intact.
 */

export type FrameStream = 'stdin' | 'stdout' | 'stderr' | 'system';

export interface Frame {
  readonly stream: FrameStream;
  readonly data: Buffer;
}

const STREAMS: readonly FrameStream[] = ['stdin', 'stdout', 'stderr', 'system'];
const HEADER = 8;

/** Incremental decoder: feed chunks as they arrive, get whole frames back. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let off = 0;
    while (this.pending.length - off >= HEADER) {
      const type = this.pending[off] ?? 0;
      const size = this.pending.readUInt32BE(off + 4);
      if (this.pending.length - off - HEADER < size) break;
      const stream = STREAMS[type] ?? 'stdout';
      frames.push({ stream, data: this.pending.subarray(off + HEADER, off + HEADER + size) });
      off += HEADER + size;
    }
    this.pending = this.pending.subarray(off);
    return frames;
  }

  /** Bytes of an incomplete frame left when the stream ended. */
  get leftover(): number {
    return this.pending.length;
  }
}

/** Encodes one frame; used by tests and fakes to produce what dockerd sends. */
export function encodeFrame(stream: FrameStream, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.alloc(HEADER);
  header[0] = STREAMS.indexOf(stream);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}
