/**
 * Where a container's CRI log copy stands, found on disk so it survives crimux restarts: the tail of the log
 * file, the tail of the latest file the kubelet rotated it to (`<path>.<timestamp>`, left uncompressed by the
 * kubelet), and a small position file written at each reopen and when copying finished
 * (<stateDir>/backends/docker/logs/<id>.json). The log file's tail wins when it has a line.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { laterPosition, lineTs, positionOfTail, type LogPosition } from './cri-log';
import type { RecordFiles } from '../host';

const TAIL_BYTES = 64 * 1024;
/** How far back a tail is read at most, to count the identical copies that end a log (a long repeated line). */
const MAX_TAIL_BYTES = 16 * 1024 * 1024;

export interface SavedPosition {
  readonly position: LogPosition | null;
  /** Copying finished: the container had exited and every message was written. */
  readonly done: boolean;
}

async function tailOf(file: string): Promise<LogPosition | null> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r');
    const { size } = await fh.stat();
    for (let want = TAIL_BYTES; ; want *= 4) {
      const start = Math.max(0, size - want);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      // A read that starts mid-file starts mid-line: that first piece is no line.
      const text = start === 0 ? buf : buf.subarray(buf.indexOf(0x0a) + 1);
      const pos = positionOfTail(text);
      if (start === 0 || want >= MAX_TAIL_BYTES) return pos;
      // No whole line in what was read (one longer line), or copies of the last line (one timestamp) may go on
      // before it: read further back.
      if (pos && !startsAt(text, pos.ts)) return pos;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  } finally {
    await fh?.close();
  }
}

/** Whether one of the first lines of `text` carries timestamp `ts` (a run of it may begin before `text`). */
function startsAt(text: Buffer, ts: bigint): boolean {
  let from = 0;
  for (let i = 0; i < 8 && from < text.length; i++) {
    const nl = text.indexOf(0x0a, from);
    if (lineTs(text.subarray(from, nl < 0 ? text.length : nl)) === ts) return true;
    if (nl < 0) break;
    from = nl + 1;
  }
  return false;
}

/** The most recently modified uncompressed rotation of `file`, if any. */
async function latestRotation(file: string): Promise<string | undefined> {
  const dir = path.dirname(file);
  const prefix = path.basename(file) + '.';
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return undefined;
  }
  let best: { file: string; mtime: number } | undefined;
  for (const n of names) {
    if (!n.startsWith(prefix) || n.endsWith('.gz') || n.endsWith('.tmp')) continue;
    const full = path.join(dir, n);
    const st = await fs.stat(full).catch(() => undefined);
    if (st?.isFile() && (!best || st.mtimeMs > best.mtime)) best = { file: full, mtime: st.mtimeMs };
  }
  return best?.file;
}

export class LogPositions {
  constructor(
    private readonly dir: string,
    private readonly files: RecordFiles,
  ) {}

  private fileOf(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  async read(id: string): Promise<SavedPosition | null> {
    try {
      const raw = JSON.parse(await fs.readFile(this.fileOf(id), 'utf8')) as {
        ts?: string;
        digest?: string;
        count?: number;
        done?: boolean;
      };
      const position =
        raw.ts !== undefined ? { ts: BigInt(raw.ts), digest: raw.digest ?? '', count: raw.count ?? 0 } : null;
      return { position, done: raw.done === true };
    } catch {
      return null;
    }
  }

  /** A crash leaves the old or the new position, never half of one; the log file's tail backs it up anyway. */
  async write(id: string, saved: SavedPosition): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const p = saved.position;
    const body = JSON.stringify({ ts: p?.ts.toString(), digest: p?.digest, count: p?.count, done: saved.done });
    await this.files.writeAtomic(this.fileOf(id), body);
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.fileOf(id), { force: true });
  }

  /** Where copying must resume for a container logging to `logPath`. */
  async resumePoint(id: string, logPath: string): Promise<SavedPosition> {
    const saved = await this.read(id);
    const rotated = await latestRotation(logPath);
    // The current file's last line is the last one written whenever it has one (timestamps alone cannot say: Docker's
    // are not in stream order). Before the first write after a reopen, the rotated file and the saved position agree.
    const rotatedTail = rotated ? await tailOf(rotated) : null;
    // A position file of an earlier crimux names no line (empty digest): the rotated file's tail says more.
    const savedPos = saved?.position && (saved.position.digest !== '' || !rotatedTail) ? saved.position : null;
    const pos = (await tailOf(logPath)) ?? laterPosition(rotatedTail, savedPos);
    return { position: pos, done: saved?.done ?? false };
  }
}
