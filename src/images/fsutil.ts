/** Small filesystem helpers shared by the image store files. */
import { randomBytes } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic as writeAtomic } from '../util/fs';

export { exists } from '../util/fs';

export interface Usage {
  bytes: number;
  inodes: number;
}

/**
 * Apparent bytes and inode count of a tree, hard links counted once, symlinks not followed and mount points
 * not crossed (like containerd's fs.DiskUsage). Entries vanishing during the walk are skipped.
 */
export async function dirUsage(root: string): Promise<Usage> {
  const usage: Usage = { bytes: 0, inodes: 0 };
  const seen = new Set<number>();
  let rootDev: number | undefined;
  const visit = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    rootDev ??= st.dev;
    if (st.dev !== rootDev) return;
    if (st.nlink > 1 && !st.isDirectory()) {
      if (seen.has(st.ino)) return;
      seen.add(st.ino);
    }
    usage.inodes++;
    usage.bytes += st.size;
    if (!st.isDirectory()) return;
    const names = await readdir(p).catch(() => [] as string[]);
    // Sequential per directory keeps file descriptors bounded on huge trees.
    for (const n of names) await visit(path.join(p, n));
  };
  await visit(root);
  return usage;
}

/** Image metadata and snapshot records outlive the machine, so they are fsynced; only root reads them. */
export function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  return writeAtomic(file, data, { mode: 0o600, fsync: true });
}

/** A unique name for a temp file or dir. */
export function tmpName(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString('hex')}`;
}
