/**
 * One image view over several image stores (the shared OCI store and Docker's), for the kubelet's image GC:
 * - an image held by two stores is listed once (by ID), with the union of its names, and with the bytes of both
 *   copies as its size, because RemoveImage without a handler frees both;
 * - image filesystems on the same device are reported as one entry with their usage summed, first the default
 *   store's: the kubelet reads only the first image filesystem (cri_stats_provider ImageFsStats), resolves its
 *   capacity from the mountpoint's device, and so sees the usage of both stores against that device's thresholds.
 * Pure functions over what the stores returned, plus a stat of each mountpoint.
 */
import { stat } from 'node:fs/promises';
import type * as cri from '../cri/types';

/** Images of several stores, earlier stores first; each reported with the handler of its first store. */
export function mergeImages(lists: readonly { images: readonly cri.Image[]; handler: string }[]): cri.Image[] {
  const byId = new Map<string, cri.Image>();
  for (const { images, handler } of lists) {
    for (const img of images) {
      const id = img.id ?? '';
      const prev = byId.get(id);
      if (!prev || id === '') {
        byId.set(id || `#${byId.size}`, withHandler(img, handler));
        continue;
      }
      byId.set(id, {
        ...prev,
        repo_tags: union(prev.repo_tags, img.repo_tags),
        repo_digests: union(prev.repo_digests, img.repo_digests),
        size: String(toBig(prev.size) + toBig(img.size)),
        pinned: Boolean(prev.pinned) || Boolean(img.pinned),
      });
    }
  }
  return [...byId.values()];
}

function withHandler(img: cri.Image, handler: string): cri.Image {
  const spec = img.spec ?? { image: img.id ?? '' };
  return { ...img, spec: { ...spec, runtime_handler: handler } };
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] {
  return [...new Set([...(a ?? []), ...(b ?? [])])];
}

function toBig(v: unknown): bigint {
  try {
    return BigInt(typeof v === 'object' && v !== null ? v.toString() : String(v ?? 0));
  } catch {
    return 0n;
  }
}

/** Usages whose mountpoints are on one device become one entry (the first one's identity, summed usage). */
export async function mergeFilesystems(usages: readonly cri.FilesystemUsage[]): Promise<cri.FilesystemUsage[]> {
  const devs = await Promise.all(
    usages.map(async (u) => {
      const mp = u.fs_id?.mountpoint;
      if (!mp) return undefined;
      return stat(mp).then(
        (s) => s.dev,
        () => undefined,
      );
    }),
  );
  const out: cri.FilesystemUsage[] = [];
  const byDev = new Map<number, number>();
  usages.forEach((u, i) => {
    const dev = devs[i];
    const at = dev === undefined ? undefined : byDev.get(dev);
    if (at === undefined) {
      if (dev !== undefined) byDev.set(dev, out.length);
      out.push(u);
      return;
    }
    const first = out[at] as cri.FilesystemUsage;
    out[at] = {
      ...first,
      used_bytes: { value: String(toBig(first.used_bytes?.value) + toBig(u.used_bytes?.value)) },
      ...(first.inodes_used || u.inodes_used
        ? { inodes_used: { value: String(toBig(first.inodes_used?.value) + toBig(u.inodes_used?.value)) } }
        : {}),
    };
  });
  return out;
}
