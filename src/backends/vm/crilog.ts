/**
 * Writes a container's output, which arrives from the guest in arbitrary chunks, as a CRI log file:
 *   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>
 * A line is F(ull) when it ended with '\n'; content longer than MAX_LINE without a newline is flushed as P(artial)
 * lines, as containerd does. Each stream keeps its own unfinished line.
 * NOTE: written here because src/host has no CRI log writer yet (conmon writes runc's logs itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

const MAX_LINE = 16 * 1024;

export class CriLog {
  private fd: number | undefined;
  private readonly rest: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  // A multi-byte character can be split across two chunks from the guest.
  private readonly dec = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(private readonly file: string) {
    this.open();
  }

  private open(): void {
    if (!this.file) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = fs.openSync(this.file, 'a', 0o640);
  }

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    let text = this.rest[stream] + this.dec[stream].write(data);
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      this.line(stream, 'F', text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    while (text.length >= MAX_LINE) {
      this.line(stream, 'P', text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.rest[stream] = text;
  }

  /** Flush unfinished lines (the process exited without a final newline). */
  flush(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.rest[s] !== '') this.line(s, 'F', this.rest[s]);
      this.rest[s] = '';
    }
  }

  /** ReopenContainerLog: the kubelet rotated the file. */
  reopen(): void {
    this.close();
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private line(stream: string, tag: 'P' | 'F', content: string): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, `${rfc3339Nano()} ${stream} ${tag} ${content}\n`);
  }
}

/** Now as RFC 3339 with nanoseconds, e.g. 2026-11-28T15:00:00.123456789Z. */
export function rfc3339Nano(): string {
  const ns = process.hrtime.bigint() - HR_BASE + EPOCH_BASE_NS;
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

const EPOCH_BASE_NS = BigInt(Date.now()) * 1_000_000n;
const HR_BASE = process.hrtime.bigint();

/** Now as int64 nanoseconds in a decimal string (CRI timestamps). */
export function nowNs(): string {
  return (process.hrtime.bigint() - HR_BASE + EPOCH_BASE_NS).toString();
}

export function msToNs(ms: number | undefined): string {
  return ms === undefined ? '0' : (BigInt(Math.round(ms)) * 1_000_000n).toString();
}
