/**
 * ImageFsInfo for the shared store: image_filesystems = blobs + unpacked layers (under the store root),
 * container_filesystems = writable layers of snapshots. Timestamps are nanoseconds as decimal strings.
 */
import type * as cri from '../cri/types';
import type { ContentStore } from './content-store';
import type { LayerStore } from './layer-store';
import type { Snapshots } from './snapshots';
import type { FsInfo } from './types';
import type { Usage } from './fsutil';

function add(total: Usage, results: PromiseSettledResult<Usage>[]): Usage {
  for (const r of results) {
    if (r.status === 'fulfilled') {
      total.bytes += r.value.bytes;
      total.inodes += r.value.inodes;
    }
  }
  return total;
}

export async function storeFsInfo(
  root: string,
  content: ContentStore,
  layers: LayerStore,
  snaps: Snapshots,
): Promise<FsInfo> {
  const diffIds = await layers.list();
  const [blobs, layerUsages, containers] = await Promise.all([
    content.usage(),
    Promise.allSettled(diffIds.map((d) => layers.usage(d))),
    snaps.totalUsage(),
  ]);
  const images = add({ ...blobs }, layerUsages);
  const timestamp = `${Date.now()}000000`;
  const usage = (mountpoint: string, u: Usage): cri.FilesystemUsage => ({
    timestamp,
    fs_id: { mountpoint },
    used_bytes: { value: String(u.bytes) },
    inodes_used: { value: String(u.inodes) },
  });
  return {
    imageFilesystems: [usage(root, images)],
    containerFilesystems: [usage(snaps.dir, containers)],
  };
}
