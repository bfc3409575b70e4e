/**
 * The CRI container log format (what the kubelet's `kubectl logs` reader parses):
 *   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n
 * P marks a partial line (the writer split a long line or the stream paused mid-line), F a full one.
 *
 * conmon writes this format itself for the runc backend, and the docker backend copies Docker's own timestamps;
 * the writer here serves backends that relay raw output (the VM agent), and the parsers tests that read logs back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { nowNs } from '../util/clock';

export type CriStream = 'stdout' | 'stderr';

export interface CriLogEntry {
  readonly time: string;
  readonly stream: CriStream;
  readonly partial: boolean;
  readonly content: string;
}

/** RFC 3339 with nanoseconds, like Go's time.RFC3339Nano in UTC ("2024-01-01T00:00:00.123456789Z"). */
export function rfc3339Nano(epochNs: bigint): string {
  const ms = Number(epochNs / 1_000_000n);
  const iso = new Date(ms).toISOString(); // …T00:00:00.123Z
  const frac = (epochNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** One formatted log line (content must not contain a newline). */
export function formatCriLogLine(stream: CriStream, partial: boolean, content: string, epochNs = nowNs()): string {
  return `${criLogLinePrefix(rfc3339Nano(epochNs), stream, partial)}${content}\n`;
}

/** "<time> <stream> <P|F> ": what precedes the content, for writers that keep content as bytes (docker). */
export function criLogLinePrefix(time: string, stream: CriStream, partial: boolean): string {
  return `${time} ${stream} ${partial ? 'P' : 'F'} `;
}

/** Parses a CRI log file's text; malformed lines are skipped. */
export function parseCriLog(text: string): CriLogEntry[] {
  const out: CriLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (!m) continue;
    out.push({ time: m[1]!, stream: m[2] as CriStream, partial: m[3] === 'P', content: m[4] ?? '' });
  }
  return out;
}

/** Joins partial entries into whole lines per stream, as `kubectl logs` shows them. */
export function criLogLines(entries: readonly CriLogEntry[], stream?: CriStream): string[] {
  const lines: string[] = [];
  const pending: Record<CriStream, string> = { stdout: '', stderr: '' };
  for (const e of entries) {
    if (stream && e.stream !== stream) continue;
    pending[e.stream] += e.content;
    if (!e.partial) {
      lines.push(pending[e.stream]);
      pending[e.stream] = '';
    }
  }
  return lines;
}

/** Lines longer than this are split into partial lines (16 KiB, as containerd). */
const MAX_LINE = 16 * 1024;

/**
 * Writes a process's output, which arrives in arbitrary chunks, to a CRI log file. A line is F(ull) when it ended
 * with '\n' or when the process ended without one (as containerd tags the rest at EOF); content longer than
 * MAX_LINE without a newline is written as P(artial) lines. Each stream keeps its own unfinished line.
 * Writes are synchronous: lines of one stream reach the file in order even when chunks arrive back to back.
 */
export class CriLogWriter {
  private fd: number | undefined;
  private readonly rest: Record<CriStream, string> = { stdout: '', stderr: '' };
  // A multi-byte character can be split across two chunks.
  private readonly dec = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  /** An empty `file` (the kubelet asked for no log) makes every write a no-op. */
  constructor(private readonly file: string) {
    this.open();
  }

  private open(): void {
    if (!this.file) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = fs.openSync(this.file, 'a', 0o640);
  }

  write(stream: CriStream, data: Buffer): void {
    let text = this.rest[stream] + this.dec[stream].write(data);
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      this.line(stream, false, text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    while (text.length >= MAX_LINE) {
      this.line(stream, true, text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.rest[stream] = text;
  }

  /** Writes unfinished lines as full ones: the process exited without a final newline. */
  flush(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.rest[s] !== '') this.line(s, false, this.rest[s]);
      this.rest[s] = '';
    }
  }

  /** ReopenContainerLog: the kubelet rotated the file, so later lines go to a new file of the same name. */
  reopen(): void {
    this.close();
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private line(stream: CriStream, partial: boolean, content: string): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, formatCriLogLine(stream, partial, content));
  }
}
