/**
 * Content-addressed blobs under <root>/blobs/sha256/<hex>. A blob is written to <root>/tmp, verified (digest and
 * size) and only then renamed into place, so while the host runs a blob that exists is complete and correct, and
 * a crash of crimux leaves at most a temp file, which start() removes.
 *
 * Blobs are not fsynced (on a 160 MB layer that cost as much as the unpack): what a power loss could damage is
 * caught when the blob is next read, because every reader verifies the digest (readVerified; fetch-layer.ts hashes
 * a stored layer blob while unpacking it), drops a damaged blob and fetches it again.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { hexOf, sha256 } from './digest';
import { isSha256Digest } from './reference';
import { InternalError } from '../errors';

/** A blob being written: stream into `file`, then commit(digest) (verified by the caller) or abort(). */
export interface Ingest {
  readonly file: Writable;
  /** Waits for `file` to finish, flushes and renames into place; the caller has verified digest and size. */
  commit(digest: string): Promise<void>;
  /** Removes the temp file; safe to call after a failed or successful commit. */
  abort(): Promise<void>;
}

/** A blob written by another process into `path`: commit(digest) (verified by the caller) or abort(). */
export interface Reservation {
  readonly path: string;
  commit(digest: string): Promise<void>;
  /** Removes the temp file; safe to call after a failed or successful commit. */
  abort(): Promise<void>;
}

export class ContentStore {
  readonly blobDir: string;

  constructor(
    root: string,
    private readonly tmpDir: string,
  ) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
  }

  path(digest: string): string {
    if (!isSha256Digest(digest)) throw new InternalError(`content store: not a sha256 digest: ${digest}`);
    return path.join(this.blobDir, hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.path(digest));
      return true;
    } catch {
      return false;
    }
  }

  read(digest: string): Promise<Buffer> {
    return readFile(this.path(digest));
  }

  /** A small blob's bytes if stored and intact; a damaged copy is deleted (see the file comment). */
  async readVerified(digest: string): Promise<Buffer | undefined> {
    let data: Buffer;
    try {
      data = await this.read(digest);
    } catch {
      return undefined;
    }
    if (sha256(data) === digest) return data;
    await this.delete(digest);
    return undefined;
  }

  /** Stores a small blob already in memory after checking its digest. */
  async put(digest: string, data: Buffer): Promise<void> {
    if (sha256(data) !== digest) throw new InternalError(`store blob ${digest}: digest mismatch`);
    if (await this.has(digest)) return;
    const ing = await this.ingest();
    try {
      ing.file.end(data);
      await ing.commit(digest);
    } finally {
      await ing.abort();
    }
  }

  /** Opens a temp file for a streamed blob; commit(digest) makes it visible. */
  async ingest(): Promise<Ingest> {
    const tmp = path.join(this.tmpDir, `blob-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    const file = createWriteStream('', { fd: fh.fd, autoClose: false });
    let done = false;
    const commit = async (digest: string): Promise<void> => {
      const target = this.path(digest);
      if (!file.writableFinished) await finished(file);
      await fh.close();
      done = true;
      await rename(tmp, target);
    };
    return {
      file,
      commit,
      abort: async () => {
        if (!done) {
          done = true;
          // A write may still be running in the threadpool on this fd: closing the fd before the stream has let
          // go of it lets the number be reused (by a socket, or libuv's own epoll fd) and that write lands there
          // (EBADF on other connections, libuv aborting the process). destroy() waits for it before 'close'.
          if (!file.closed) {
            const released = new Promise<void>((resolve) => file.once('close', () => resolve()));
            file.destroy();
            await released;
          }
          await fh.close().catch(() => undefined);
        }
        await rm(tmp, { force: true });
      },
    };
  }

  /**
   * A temp path for a blob that another process writes (the unpack helper creates it exclusively, without
   * following symlinks); commit(digest) makes it visible, abort() removes it.
   */
  reserve(): Reservation {
    const tmp = path.join(this.tmpDir, `blob-${randomBytes(8).toString('hex')}`);
    return {
      path: tmp,
      commit: (digest) => rename(tmp, this.path(digest)),
      abort: () => rm(tmp, { force: true }),
    };
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Every stored digest. */
  async list(): Promise<string[]> {
    const names = await readdir(this.blobDir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Bytes (apparent sizes) and inode count of all blobs. */
  async usage(): Promise<{ bytes: number; inodes: number }> {
    const digests = await this.list();
    const sizes = await Promise.allSettled(digests.map((d) => stat(this.path(d))));
    let bytes = 0;
    let inodes = 0;
    for (const s of sizes) {
      if (s.status === 'fulfilled') {
        bytes += s.value.size;
        inodes++;
      }
    }
    return { bytes, inodes };
  }
}
