/**
 * Reading a small file from an untrusted root (an image's rootfs or layer) without letting the image reach the
 * host or stall the daemon (issue #19):
 *  - the path is resolved INSIDE the root, as the container would see it: symlinks are followed with the root as
 *    `/` and `..` stops at the root, so `/etc/passwd -> /etc/shadow-of-the-host` stays in the image;
 *  - only a regular file is opened: a FIFO, socket or device node at /etc/passwd is refused before any open (a FIFO
 *    opened for reading blocks a libuv thread until a writer appears: four of them stop every file operation of
 *    the daemon). The open itself uses O_NOFOLLOW|O_NONBLOCK and is checked again with fstat, so a node swapped in
 *    after the lstat still cannot block or be followed;
 *  - after the open, /proc/self/fd tells where the file really is: outside the root (a component swapped for a
 *    symlink while we walked) is refused;
 *  - at most `maxBytes` are read; a larger file is refused rather than truncated silently.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';

/** How many symlinks one lookup may follow, as the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

export const DEFAULT_MAX_BYTES = 1024 * 1024;

function refuse(rel: string, detail: string): never {
  throw new InvalidArgumentError(`read image file /${rel}: ${detail}`, { context: { path: `/${rel}` } });
}

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The host path of `rel` inside `root`, symlinks resolved with `root` as the filesystem root; null when a
 * component does not exist. Throws InvalidArgumentError for a symlink loop.
 */
export async function resolveInRoot(root: string, rel: string): Promise<string | null> {
  const pending = rel.split('/').filter((p) => p && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(host);
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) refuse(rel, 'too many levels of symbolic links');
    const target = await fs.promises.readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((p) => p && p !== '.'));
  }
  return path.join(root, ...done);
}

/**
 * Reads `rel` (a path inside the container, e.g. "etc/passwd") from `root`. Returns null when it does not exist;
 * throws InvalidArgumentError when it is not a regular file, is larger than `maxBytes`, or escapes the root.
 */
export async function readFileInRoot(root: string, rel: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string | null> {
  let realRoot: string;
  try {
    realRoot = await fs.promises.realpath(root);
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
  const host = await resolveInRoot(realRoot, rel);
  if (host === null) return null;
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(host);
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
  if (!st.isFile()) refuse(rel, `not a regular file (${kindOf(st)})`);
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(host, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    if (isAbsent(err)) return null;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') refuse(rel, 'became a symbolic link while being opened');
    throw err;
  }
  try {
    const fst = await fh.stat();
    if (!fst.isFile()) refuse(rel, `not a regular file (${kindOf(fst)})`);
    if (fst.size > maxBytes) refuse(rel, `larger than ${maxBytes} bytes`);
    const where = await fs.promises.readlink(`/proc/self/fd/${fh.fd}`);
    if (where !== realRoot && !where.startsWith(`${realRoot}/`)) refuse(rel, 'resolves outside the image root');
    const buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(fst.size + 1, 4096)));
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, total, buf.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) refuse(rel, `larger than ${maxBytes} bytes`);
      if (total === buf.length) break;
    }
    return buf.subarray(0, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a file';
}
