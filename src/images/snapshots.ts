/**
 * Container roots as overlayfs mounts, one per key (a container ID), under <root>/snapshots/<key>/:
 *   snapshot.json   which image and layers it stacks (read by garbage collection: those layers stay on disk)
 *   upper/ work/    the private writable layer (absent when read-only)
 *   rootfs/         the mount point
 * The dir is assembled under a dot-name and renamed into place, so keys() never sees a half-made snapshot. After
 * a host reboot the mount is gone but the dir stays; prepare() of the same key mounts it again, upper intact.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Snapshot } from './types';
import { dirUsage, exists, tmpName, writeFileAtomic, type Usage } from './fsutil';
import { bindReadOnly, isMounted, mountOverlay, unmount } from './mount';
import { InvalidArgumentError } from '../errors';

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface SnapshotRecord {
  readonly version: 1;
  readonly key: string;
  readonly imageId: string;
  /** Layers stacked, lowest first. */
  readonly diffIds: string[];
  readonly readonly: boolean;
  readonly createdAt: string;
}

export class Snapshots {
  readonly dir: string;

  constructor(
    root: string,
    /** Where layer dirs live; lower dirs are given relative to it when the option page would overflow. */
    private readonly layersDir: string,
  ) {
    this.dir = path.join(root, 'snapshots');
    // Overlay mount options are split on ',' and lowerdir on ':'; such a root could not be mounted.
    if (/[,:]/.test(root)) throw new InvalidArgumentError(`image store root "${root}": must not contain ',' or ':'`);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Half-made snapshots of an interrupted prepare: never mounted, never visible.
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.')) await rm(path.join(this.dir, name), { recursive: true, force: true });
    }
  }

  private paths(key: string): { dir: string; rootfs: string; upper: string; work: string; meta: string } {
    if (!KEY_RE.test(key)) throw new InvalidArgumentError(`snapshot key "${key}": must match ${KEY_RE.source}`);
    const dir = path.join(this.dir, key);
    return {
      dir,
      rootfs: path.join(dir, 'rootfs'),
      upper: path.join(dir, 'upper'),
      work: path.join(dir, 'work'),
      meta: path.join(dir, 'snapshot.json'),
    };
  }

  async record(key: string): Promise<SnapshotRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.paths(key).meta, 'utf8')) as SnapshotRecord;
    } catch {
      return undefined;
    }
  }

  /** Creates the snapshot's dirs and record (not mounted yet); a no-op when the key exists. */
  async create(rec: SnapshotRecord): Promise<void> {
    const p = this.paths(rec.key);
    if (await exists(p.meta)) return;
    const staging = path.join(this.dir, `.${tmpName(rec.key)}`);
    await mkdir(path.join(staging, 'rootfs'), { recursive: true, mode: 0o755 });
    if (!rec.readonly) {
      await mkdir(path.join(staging, 'upper'), { mode: 0o755 });
      await mkdir(path.join(staging, 'work'), { mode: 0o700 });
    }
    await writeFileAtomic(path.join(staging, 'snapshot.json'), JSON.stringify(rec));
    // A leftover dir without a record (crash during an earlier remove) is replaced.
    await rm(p.dir, { recursive: true, force: true });
    await rename(staging, p.dir);
  }

  /** Mounts the snapshot if it is not mounted; `layerDirs` lowest first. */
  async mount(key: string, layerDirs: string[]): Promise<Snapshot> {
    const p = this.paths(key);
    const rec = await this.record(key);
    const readonly = rec?.readonly ?? false;
    const snap: Snapshot = readonly ? { key, rootfs: p.rootfs } : { key, rootfs: p.rootfs, upperDir: p.upper };
    if (await isMounted(p.rootfs)) return snap;
    let lowers = [...layerDirs].reverse();
    if (lowers.length === 0) {
      // An image without layers: overlay still needs a lower dir.
      const empty = path.join(p.dir, 'empty');
      await mkdir(empty, { recursive: true });
      lowers = [empty];
    }
    if (readonly && lowers.length === 1) {
      await bindReadOnly(lowers[0] as string, p.rootfs);
    } else if (readonly) {
      await mountOverlay(p.rootfs, { lowers, lowerBase: this.layersDir });
    } else {
      await mountOverlay(p.rootfs, { lowers, upper: p.upper, work: p.work, lowerBase: this.layersDir });
    }
    return snap;
  }

  /** Unmounts and deletes; idempotent. Deletion never starts while rootfs is still mounted. */
  async remove(key: string): Promise<void> {
    const p = this.paths(key);
    if (!(await exists(p.dir))) return;
    await unmount(p.rootfs);
    // Drop the record first: from here on the key is gone for keys() and garbage collection alike.
    const doomed = path.join(this.dir, `.${tmpName(key)}`);
    await rename(p.dir, doomed);
    await rm(doomed, { recursive: true, force: true });
  }

  async usage(key: string): Promise<Usage> {
    const p = this.paths(key);
    if (!(await exists(p.upper))) return { bytes: 0, inodes: 0 };
    return dirUsage(p.upper);
  }

  async keys(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.') && KEY_RE.test(n));
  }

  async records(): Promise<SnapshotRecord[]> {
    const recs = await Promise.all((await this.keys()).map((k) => this.record(k)));
    return recs.filter((r): r is SnapshotRecord => r !== undefined);
  }

  /** Bytes and inodes of every writable layer (container_filesystems of ImageFsInfo). */
  async totalUsage(): Promise<Usage> {
    const total: Usage = { bytes: 0, inodes: 0 };
    const all = await Promise.allSettled((await this.keys()).map((k) => this.usage(k)));
    for (const r of all) {
      if (r.status === 'fulfilled') {
        total.bytes += r.value.bytes;
        total.inodes += r.value.inodes;
      }
    }
    return total;
  }
}
