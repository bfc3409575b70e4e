/**
 * The guest end of the host channel: the virtio-serial port named "agent" (notes §1).
 *
 * NOTE: read() on the port returns 0 (EOF) while no host is connected, so EOF means "wait and retry", not "done".
 * NOTE: write() blocks while no host is connected, so writes go through an async queue on the libuv pool and never
 *       block the event loop; lines produced while the host is away are delivered when it comes back.
 * NOTE: scan only newly read bytes for '\n' — rescanning a growing buffer made large requests 10× slower under TCG.
 */
import fs from 'node:fs';
import { MAX_LINE_BYTES } from '../protocol';

/** /dev/vportNpM of the port named `name`, found through sysfs (no udev in the guest, so no /dev/virtio-ports). */
export function findPort(name: string): string {
  const base = '/sys/class/virtio-ports';
  for (const entry of fs.readdirSync(base)) {
    try {
      if (fs.readFileSync(`${base}/${entry}/name`, 'utf8').trim() === name) return `/dev/${entry}`;
    } catch {
      // a port without a name file is not ours
    }
  }
  throw new Error(`no virtio port named ${name}`);
}

export class Port {
  private readonly fd: number;
  private readonly queue: Buffer[] = [];
  private writing = false;

  constructor(path: string) {
    this.fd = fs.openSync(path, 'r+');
  }

  /** Queue one JSON line; never blocks. */
  send(obj: unknown): void {
    this.queue.push(Buffer.from(JSON.stringify(obj) + '\n'));
    if (!this.writing) this.flush();
  }

  private flush(): void {
    const buf = this.queue.shift();
    if (!buf) {
      this.writing = false;
      return;
    }
    this.writing = true;
    this.writeAll(buf, 0);
  }

  private writeAll(buf: Buffer, off: number): void {
    fs.write(this.fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) {
        // EAGAIN/EIO while the host end is closed: try the same bytes again shortly.
        setTimeout(() => this.writeAll(buf, off), 100);
        return;
      }
      if (off + n < buf.length) this.writeAll(buf, off + n);
      else this.flush();
    });
  }

  /** Read lines forever; onLine gets each complete line (without '\n'). */
  readLines(onLine: (line: string) => void): void {
    const chunk = Buffer.alloc(64 * 1024);
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const loop = (): void => {
      fs.read(this.fd, chunk, 0, chunk.length, null, (err, n) => {
        if (err || n === 0) {
          setTimeout(loop, err ? 200 : 50); // host not connected (EOF) or transient error
          return;
        }
        let start = 0;
        for (let i = 0; i < n; i++) {
          if (chunk[i] !== 0x0a) continue;
          pending.push(Buffer.from(chunk.subarray(start, i)));
          const line = Buffer.concat(pending).toString('utf8');
          pending = [];
          pendingLen = 0;
          start = i + 1;
          if (line.length > 0) onLine(line);
        }
        if (start < n) {
          pending.push(Buffer.from(chunk.subarray(start, n)));
          pendingLen += n - start;
          if (pendingLen > MAX_LINE_BYTES) {
            pending = [];
            pendingLen = 0;
          }
        }
        loop();
      });
    };
    loop();
  }
}
