/**
 * Container root disks (notes §2): virtio-fs and 9p are unavailable here, so the image reaches the guest as a
 * block device. Each image is converted once — a read-only snapshot from the shared store, `mkfs.ext4 -d` of its
 * merged tree (no loop mount, no root tricks) — and cached per image ID; each container then gets its own qcow2
 * overlay on that base, so the base never changes and containers never see each other's writes.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { InternalError } from '../../errors';
import type { CallContext } from '../backend';
import type { SnapshotStore } from '../../images/types';

export interface DiskOptions {
  readonly dir: string;
  readonly qemuImg: string;
  readonly headroomMiB: number;
  readonly snapshots: SnapshotStore;
}

export class Disks {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly o: DiskOptions) {}

  /** The ext4 base image of `imageId` (sha256:…), built on first use; concurrent callers share one build. */
  base(ctx: CallContext, imageId: string, ref: string): Promise<string> {
    const hex = imageId.replace(/^sha256:/, '');
    const file = path.join(this.o.dir, 'images', `${hex}.ext4`);
    if (fs.existsSync(file)) return Promise.resolve(file);
    let p = this.pending.get(hex);
    if (!p) {
      p = this.build(ctx, hex, ref, file).finally(() => this.pending.delete(hex));
      this.pending.set(hex, p);
    }
    return p;
  }

  private async build(ctx: CallContext, hex: string, ref: string, file: string): Promise<string> {
    const key = `vm-image-${hex.slice(0, 32)}`;
    const t0 = Date.now();
    const snap = await this.o.snapshots.prepare(ctx, key, ref, { readonly: true });
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const used = Number((await run('du', ['-sxb', snap.rootfs])).split(/\s/)[0] ?? 0);
      const mib = Math.max(64, Math.ceil((used * 1.2) / 1048576) + this.o.headroomMiB);
      const tmp = `${file}.tmp`;
      fs.rmSync(tmp, { force: true });
      await run('mkfs.ext4', [
        '-q',
        '-F',
        '-d',
        snap.rootfs,
        '-O',
        '^has_journal',
        '-E',
        'root_owner=0:0',
        tmp,
        `${mib}M`,
      ]);
      fs.renameSync(tmp, file);
      ctx.log.info('vm: built image rootfs disk', { image: ref, mib, ms: Date.now() - t0 });
    } finally {
      await this.o.snapshots.removeSnapshot(ctx, key);
    }
    return file;
  }

  /**
   * Delete cached image disks that no container uses and whose image is gone from the store (RemoveImage), so a
   * removed image leaves nothing behind here. Best effort; disks of images still in the store stay cached.
   */
  async gc(
    ctx: CallContext,
    inUse: Set<string>,
    store: { status(ctx: CallContext, ref: string, verbose: boolean): Promise<{ image: unknown }> },
  ): Promise<void> {
    const dir = path.join(this.o.dir, 'images');
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.ext4'));
    } catch {
      return;
    }
    for (const n of names) {
      const id = `sha256:${n.slice(0, -'.ext4'.length)}`;
      if (inUse.has(id) || this.pending.has(id.slice(7))) continue;
      const st = await store.status(ctx, id, false).catch(() => ({ image: {} }));
      if (st.image !== null) continue;
      fs.rmSync(path.join(dir, n), { force: true });
      ctx.log.info('vm: removed image disk of a removed image', { image: id });
    }
  }

  /** A container's writable qcow2 overlay on the image base. Repeating it replaces a leftover of the same id. */
  async overlay(base: string, file: string): Promise<void> {
    fs.rmSync(file, { force: true });
    await run(this.o.qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', file]);
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 300_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new InternalError(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}
