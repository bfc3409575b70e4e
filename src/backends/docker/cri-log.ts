/**
 * The CRI container log format and the resume bookkeeping of the docker log copier. Pure.
 *
 *   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n      (P: partial line, F: full line)
 *
 * Each line keeps the timestamp Docker recorded for the message, so the log file itself says how far copying got:
 * after a crimux restart the copier asks Docker for messages since the last written timestamp (Docker's `since` is
 * inclusive) and skips as many messages with exactly that timestamp as the file already ends with. Docker gives
 * every chunk of a long line the same timestamp, hence the count.
 */

import { criLogLinePrefix, type CriStream } from '../../host/cri-log';
import { parseRfc3339Ns } from './timestamps';

export type LogStream = CriStream;

/** How far a log has been copied: the last timestamp written and how many lines at its end carry it. */
export interface LogPosition {
  readonly ts: bigint;
  readonly count: number;
}

/** Content stays bytes: Docker's output need not be UTF-8, and the file must get it unchanged. */
export function criLine(ts: string, stream: LogStream, partial: boolean, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from(criLogLinePrefix(ts, stream, partial)), content, Buffer.from('\n')]);
}

export interface TimestampedMessage {
  /** Docker's RFC3339Nano timestamp string, written verbatim. */
  readonly ts: string;
  readonly tsNs: bigint;
  /** The message without the timestamp prefix (and still with its newline, when it has one). */
  readonly content: Buffer;
}

/** Splits Docker's "<timestamp> <message>" (logs API with timestamps=1); null when there is no timestamp. */
export function splitTimestamp(payload: Buffer): TimestampedMessage | null {
  const space = payload.indexOf(0x20);
  if (space <= 0 || space > 40) return null;
  const ts = payload.subarray(0, space).toString('latin1');
  const tsNs = parseRfc3339Ns(ts);
  if (tsNs === null) return null;
  return { ts, tsNs, content: payload.subarray(space + 1) };
}

/** A non-TTY message: a trailing newline marks a full line; without one it is a partial chunk of a long line. */
export function frameToLine(stream: LogStream, payload: Buffer): { line: Buffer; tsNs: bigint } | null {
  const msg = splitTimestamp(payload);
  if (!msg) return null;
  const full = msg.content.length > 0 && msg.content[msg.content.length - 1] === 0x0a;
  const content = full ? msg.content.subarray(0, msg.content.length - 1) : msg.content;
  return { line: criLine(msg.ts, stream, !full, content), tsNs: msg.tsNs };
}

/** The position a CRI log's text ends at, from its last lines; null when it has no parsable line. */
export function positionOfTail(text: string): LogPosition | null {
  const lines = text.split('\n').filter((l) => l !== '');
  let ts: bigint | null = null;
  let count = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const lineTs = parseRfc3339Ns(line.slice(0, Math.max(0, line.indexOf(' '))));
    if (lineTs === null) {
      if (ts === null) continue; // a torn last line (crash mid-write) is skipped
      break;
    }
    if (ts === null) ts = lineTs;
    if (lineTs !== ts) break;
    count++;
  }
  return ts === null ? null : { ts, count };
}

/** The later of two positions (a larger count at the same timestamp is later). */
export function laterPosition(a: LogPosition | null, b: LogPosition | null): LogPosition | null {
  if (!a) return b;
  if (!b) return a;
  if (a.ts !== b.ts) return a.ts > b.ts ? a : b;
  return a.count >= b.count ? a : b;
}

/**
 * Decides which messages of a resumed stream are new, and tracks the position as lines are written.
 * Messages older than the position, and the first `count` messages at exactly its timestamp, were written before.
 */
export class ResumeFilter {
  private ts: bigint;
  private count: number;
  private skipAtTs: number;

  constructor(from: LogPosition | null) {
    this.ts = from?.ts ?? -1n;
    this.count = from?.count ?? 0;
    this.skipAtTs = this.count;
  }

  /** Whether to write a message with this timestamp; updates the position when it is. */
  accept(tsNs: bigint): boolean {
    if (tsNs < this.ts) return false;
    if (tsNs === this.ts && this.skipAtTs > 0) {
      this.skipAtTs--;
      return false;
    }
    if (tsNs === this.ts) this.count++;
    else {
      this.ts = tsNs;
      this.count = 1;
    }
    this.skipAtTs = 0;
    return true;
  }

  /** A new session (since = our timestamp, inclusive) replays the messages at that timestamp: skip them again. */
  rewind(): void {
    this.skipAtTs = this.count;
  }

  get position(): LogPosition | null {
    return this.ts < 0n ? null : { ts: this.ts, count: this.count };
  }
}
