/**
 * The CRI container log format (what the kubelet's `kubectl logs` reader parses):
 *   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n
 * P marks a partial line (the writer split a long line or the stream paused mid-line), F a full one.
 *
 * conmon writes this format itself for the runc backend; these helpers serve backends that relay output without
 * conmon (the VM agent, rkt) and tests that read logs back.
 */
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import * as path from 'node:path';

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

/** Now as nanoseconds since the epoch, with sub-millisecond precision (performance clock anchored to wall time). */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** One formatted log line (content must not contain a newline). */
export function formatCriLogLine(stream: CriStream, partial: boolean, content: string, epochNs = nowNs()): string {
  return `${rfc3339Nano(epochNs)} ${stream} ${partial ? 'P' : 'F'} ${content}\n`;
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

/**
 * Writes a process's output to a CRI log file: splits on newlines, marks partial lines, caps line length (16 KiB
 * like containerd), and reopens the file on request (ReopenContainerLog after the kubelet rotated it).
 */
export class CriLogWriter {
  private out: WriteStream;
  private readonly pending: Record<CriStream, string> = { stdout: '', stderr: '' };

  constructor(
    private readonly file: string,
    private readonly maxLineBytes = 16 * 1024,
  ) {
    this.out = this.open();
  }

  /** Appends a chunk of output; complete lines are written at once, a trailing fragment waits for more. */
  write(stream: CriStream, chunk: Buffer | string): void {
    let buf = this.pending[stream] + chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      this.emit(stream, buf.slice(0, nl), false);
      buf = buf.slice(nl + 1);
    }
    while (Buffer.byteLength(buf) > this.maxLineBytes) {
      this.emit(stream, buf.slice(0, this.maxLineBytes), true);
      buf = buf.slice(this.maxLineBytes);
    }
    this.pending[stream] = buf;
  }

  /** Writes what is pending as partial lines (the stream paused or ended without a newline). */
  flush(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.pending[s]) this.emit(s, this.pending[s], true);
      this.pending[s] = '';
    }
  }

  /** Closes and reopens the file by name, so writes go to a new file after rotation. */
  async reopen(): Promise<void> {
    const old = this.out;
    this.out = this.open();
    await new Promise<void>((resolve) => old.end(resolve));
  }

  async close(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => this.out.end(resolve));
  }

  private emit(stream: CriStream, content: string, partial: boolean): void {
    this.out.write(formatCriLogLine(stream, partial, content));
  }

  private open(): WriteStream {
    const ws = createWriteStream(this.file, { flags: 'a', mode: 0o640 });
    // A write error (disk full, directory removed) must not crash the daemon; the next reopen may recover.
    ws.on('error', () => undefined);
    return ws;
  }
}

/** Creates the directory of a log path (the kubelet does so too; harmless when it exists). */
export async function ensureLogDir(logPath: string): Promise<void> {
  await fs.mkdir(path.dirname(logPath), { recursive: true, mode: 0o755 });
}
