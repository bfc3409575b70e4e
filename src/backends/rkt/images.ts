/**
 * The built-in stage1's images: app roots are snapshots of crimux's shared OCI store (keyed per pod and app), and
 * the `rkt image fetch/list/rm` commands of the contract map to its pull/list/remove. rkt's ACI store (CAS,
 * docker2aci) has no counterpart: images are OCI, IDs are sha256 config digests where rkt had sha512-….
 */
import type { CallContext } from '../backend';
import type { ImageStore, SnapshotStore } from '../../images/types';
import type { Logger } from '../../log/logger';
import type * as v1 from './api';
import type { PreparedRootfs, RootfsProvider } from './stage1/context';
import type { ImageOps } from './stage1/manager';

function callCtx(log: Logger, signal?: AbortSignal): CallContext {
  return { signal: signal ?? AbortSignal.timeout(600_000), log };
}

export class SnapshotRootfs implements RootfsProvider {
  constructor(
    private readonly store: ImageStore & SnapshotStore,
    private readonly log: Logger,
  ) {}

  async prepare(key: string, image: string, signal?: AbortSignal): Promise<PreparedRootfs> {
    const ctx = callCtx(this.log, signal);
    const resolved = await this.store.resolve(ctx, image);
    const snap = await this.store.prepare(ctx, key, image, { readonly: false });
    return { rootfs: snap.rootfs, imageId: resolved.id };
  }

  async remove(key: string, signal?: AbortSignal): Promise<void> {
    await this.store.removeSnapshot(callCtx(this.log, signal), key);
  }

  usage(key: string): Promise<{ bytes: number; inodes: number }> {
    return this.store.usage(key);
  }

  keys(): Promise<string[]> {
    return this.store.keys();
  }
}

export class StoreImageOps implements ImageOps {
  constructor(
    private readonly store: ImageStore,
    private readonly log: Logger,
  ) {}

  fetch(name: string, signal?: AbortSignal): Promise<string> {
    return this.store.pull(callCtx(this.log, signal), { image: name.replace(/^docker:\/\//, '') });
  }

  async list(signal?: AbortSignal): Promise<v1.ImageListEntry[]> {
    const images = await this.store.list(callCtx(this.log, signal));
    return images.map((i) => ({
      id: i.id ?? '',
      name: i.repo_tags?.[0] ?? i.repo_digests?.[0] ?? i.id ?? '',
      import_time: '0',
      last_used_time: '0',
      size: Number(i.size ?? 0),
    }));
  }

  async remove(id: string, signal?: AbortSignal): Promise<void> {
    await this.store.remove(callCtx(this.log, signal), id);
  }
}
