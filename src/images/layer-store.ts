/**
 * Unpacked layers, each once, by diff ID under <root>/layers/<hex>. A layer dir appears by rename from <root>/tmp
 * only after its tar stream matched the diff ID, so an existing dir is always a complete layer. Layers are
 * immutable, so their disk usage is computed once per process and cached.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { hexOf } from './digest';
import { isSha256Digest } from './reference';
import { dirUsage, exists, type Usage } from './fsutil';
import { InternalError } from '../errors';

export class LayerStore {
  readonly dir: string;
  private readonly usageCache = new Map<string, Usage>();

  constructor(root: string) {
    this.dir = path.join(root, 'layers');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  path(diffId: string): string {
    if (!isSha256Digest(diffId)) throw new InternalError(`layer store: not a sha256 diff ID: ${diffId}`);
    return path.join(this.dir, hexOf(diffId));
  }

  has(diffId: string): Promise<boolean> {
    return exists(this.path(diffId));
  }

  /** Moves a fully unpacked and verified temp dir into place; a concurrent identical commit is fine. */
  async commit(diffId: string, tmpDir: string): Promise<void> {
    try {
      await rename(tmpDir, this.path(diffId));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another pull committed the same layer first: same diff ID, same content. Drop ours.
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await this.has(diffId))) {
        await rm(tmpDir, { recursive: true, force: true });
        return;
      }
      throw err;
    }
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async delete(diffId: string): Promise<void> {
    // Rename first so a half-deleted layer is never visible under its diff ID.
    const doomed = `${this.path(diffId)}.deleting`;
    try {
      await rename(this.path(diffId), doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.usageCache.delete(diffId);
    await rm(doomed, { recursive: true, force: true });
  }

  async usage(diffId: string): Promise<Usage> {
    const cached = this.usageCache.get(diffId);
    if (cached) return cached;
    const u = await dirUsage(this.path(diffId));
    this.usageCache.set(diffId, u);
    return u;
  }

  /** Removes leftovers of interrupted deletes. */
  async cleanup(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.allSettled(
      names
        .filter((n) => n.endsWith('.deleting'))
        .map((n) => rm(path.join(this.dir, n), { recursive: true, force: true })),
    );
  }
}
