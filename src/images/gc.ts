/**
 * Garbage collection of blobs and unpacked layers: keep what an image record, a snapshot record (layers under a
 * container root, even of a removed image) or a running pull's lease references; delete the rest. Runs under
 * the store's metadata lock, after image removal, after snapshot removal and at start (orphans of a crash
 * between a layer's rename and its image record).
 */
import type { Logger } from '../log/logger';
import type { ContentStore } from './content-store';
import type { LayerStore } from './layer-store';
import type { ImageRecord } from './metadata';
import type { SnapshotRecord } from './snapshots';

export interface GcInput {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly images: readonly ImageRecord[];
  readonly snapshots: readonly SnapshotRecord[];
  /** Digests (blobs or diff IDs) in use by pulls in progress. */
  readonly leases: Iterable<ReadonlySet<string>>;
  readonly log: Logger;
}

export async function collectGarbage(input: GcInput): Promise<{ blobs: number; layers: number }> {
  const keep = new Set<string>();
  for (const img of input.images) {
    for (const b of img.blobs) keep.add(b);
    for (const d of img.diffIds) keep.add(d);
  }
  for (const s of input.snapshots) for (const d of s.diffIds) keep.add(d);
  for (const lease of input.leases) for (const d of lease) keep.add(d);

  const blobs = (await input.content.list()).filter((d) => !keep.has(d));
  const layers = (await input.layers.list()).filter((d) => !keep.has(d));
  const results = await Promise.allSettled([
    ...blobs.map((d) => input.content.delete(d)),
    ...layers.map((d) => input.layers.delete(d)),
  ]);
  for (const r of results) {
    if (r.status === 'rejected') input.log.warn('garbage collection: delete failed', { error: r.reason });
  }
  if (blobs.length + layers.length > 0) {
    input.log.info('garbage collected image content', { blobs: blobs.length, layers: layers.length });
  }
  return { blobs: blobs.length, layers: layers.length };
}
