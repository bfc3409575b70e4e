/**
 * Bounds on what one image may make crimux store or buffer (config `images.limits`), so a hostile or broken image
 * fails its pull with ResourceExhausted instead of filling the node's disk, inodes or the daemon's memory.
 *
 * Why these defaults:
 *   layerBytes 32 GiB     the largest public layers (CUDA, ML runtimes with baked-in models) unpack to 10–20 GiB;
 *                         a gzip bomb (≈1000:1) or a zstd bomb (far more) is stopped before it fills a node disk.
 *   layerEntries 1 M      texlive-full, among the largest distro trees, is ≈200k files; one million inodes is
 *                         16 GiB of inode table at ext4's default ratio.
 *   manifestBytes 4 MiB   what containerd and the distribution registry accept for manifests and indexes.
 *   configBytes 8 MiB     configs are a few KiB; long histories stay far below.
 * Declared sizes (descriptors) are checked before a request, actual bytes while streaming.
 */
import { ResourceExhaustedError } from '../errors';

export interface PullLimits {
  /** Uncompressed bytes of one layer's tar stream (and the declared compressed size). */
  readonly layerBytes: number;
  /** Entries (files, dirs, links, …) in one layer. */
  readonly layerEntries: number;
  /** Bytes of one manifest or index. */
  readonly manifestBytes: number;
  /** Bytes of one image config. */
  readonly configBytes: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const DEFAULT_LIMITS: PullLimits = {
  layerBytes: 32 * GiB,
  layerEntries: 1_000_000,
  manifestBytes: 4 * MiB,
  configBytes: 8 * MiB,
};

/** The error of an image over a limit; names the limit's config key so an operator knows what to raise. */
export function overLimit(image: string, what: string, key: keyof PullLimits, limit: number): ResourceExhaustedError {
  return new ResourceExhaustedError(
    `pull image ${image}: ${what} exceeds the limit of ${limit} (images.limits.${key})`,
    { context: { limit: key } },
  );
}

/** Refuses a descriptor whose declared size is already over a limit, before anything is fetched. */
export function checkDeclared(
  image: string,
  what: string,
  size: number,
  key: keyof PullLimits,
  limits: PullLimits,
): void {
  if (size > limits[key]) throw overLimit(image, `${what} declares ${size} bytes, which`, key, limits[key]);
}
