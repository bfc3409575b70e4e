/**
 * Filesystem helpers every part of the daemon needs: an existence test and the one atomic file writer.
 *
 * writeFileAtomic writes a temp file in the target's directory and renames it over the target, so a reader (or a
 * crimux restarted after a crash) sees the old content or the new, never half of it. The temp name is unique per
 * call, so two writes of one file racing in this process cannot interleave in one temp file, and it is hidden and
 * ends in ".tmp", so a directory scan never takes it for a record.
 *
 * `fsync` is a per-caller choice, not a default, because the two kinds of files differ in what must survive:
 *  - content that outlives the machine (image metadata, snapshots) must survive a power loss: fsync the data
 *    before the rename, or the rename may reach the disk first and leave an empty file under the final name;
 *  - backend records describe processes and VMs that die with the machine anyway: they must survive a crimux
 *    crash, which the rename alone guarantees (the page cache outlives the process), and an fsync per create
 *    would only add disk latency to every CRI call. After a power loss a torn record is skipped by its reader.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Permissions of the new file (default 0o666 less the umask, as fs.writeFile). */
  readonly mode?: number;
  /** Flush the data to disk before the rename: for content that must survive a power loss. */
  readonly fsync?: boolean;
}

/** Whether anything (a dangling symlink too) exists at `p`. */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempNameFor(file);
  try {
    const fh = await fs.promises.open(tmp, 'wx', opts.mode ?? 0o666);
    try {
      await fh.writeFile(data);
      if (opts.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** The same, for synchronous callers (the vm backend's pod store and boot cache). */
export function writeFileAtomicSync(file: string, data: string | Buffer, opts: AtomicWriteOptions = {}): void {
  const tmp = tempNameFor(file);
  try {
    const fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o666);
    try {
      fs.writeFileSync(fd, data);
      if (opts.fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}
