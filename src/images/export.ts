/**
 * Read-only export of a stored image: the exact manifest, config and (compressed) layer blobs a pull stored, so
 * another image store (Docker's, see src/backends/docker/image-transfer.ts) can take the image in with the same
 * image ID. Nothing is rewritten: the config bytes are the ones whose digest is the CRI image ID.
 *
 * NOTE: the blobs are read from their files after this returns; an image removed in between makes the reader
 * fail with ENOENT (the caller reports it), never produce a wrong image, because every blob is content-addressed.
 */
import { stat } from 'node:fs/promises';
import type { ContentStore } from './content-store';
import type { ImageRecord } from './metadata';
import { findImage } from './image-view';
import { parseManifest, type Descriptor } from './manifest';
import type { ImageStore } from './types';

/** Manifests are a few KiB; anything bigger among an image's blobs is a layer, not worth parsing. */
const MANIFEST_LIMIT = 4 << 20;

export interface ExportedLayer {
  /** Digest and media type of the blob as stored (compressed as the registry served it). */
  readonly descriptor: Descriptor;
  /** The blob's file in the content store. */
  readonly path: string;
}

export interface ExportedImage {
  /** The CRI image ID: sha256 of `config`. */
  readonly id: string;
  /** Digest of the platform manifest (not of an index the reference may have resolved to). */
  readonly manifestDigest: string;
  readonly manifest: Buffer;
  readonly config: Buffer;
  /** Lowest first, as in the manifest. */
  readonly layers: ExportedLayer[];
  readonly repoTags: string[];
  readonly repoDigests: string[];
}

/** A store whose images can be read out whole. */
export interface ImageExporter {
  /** The image a reference, ID or ID prefix names, or undefined when the store does not hold it. */
  exportImage(ref: string): Promise<ExportedImage | undefined>;
}

/** Whether `store` can export its images (the shared OCI store can; Docker's cannot). */
export function isImageExporter(store: ImageStore): store is ImageStore & ImageExporter {
  return typeof (store as Partial<ImageExporter>).exportImage === 'function';
}

/** Builds the export of the record `ref` names; the manifest is the stored blob whose config is the image's. */
export async function exportImage(
  records: readonly ImageRecord[],
  content: ContentStore,
  ref: string,
): Promise<ExportedImage | undefined> {
  const rec = findImage(records, ref);
  if (!rec) return undefined;
  for (const digest of rec.blobs) {
    if (digest === rec.id) continue;
    const manifest = await readManifestCandidate(content, digest);
    if (!manifest) continue;
    let parsed;
    try {
      parsed = parseManifest(manifest);
    } catch {
      continue; // an index (or a small layer that happens to be JSON): not the manifest we want
    }
    if (parsed.config.digest !== rec.id) continue;
    return {
      id: rec.id,
      manifestDigest: digest,
      manifest,
      config: await content.read(rec.id),
      layers: parsed.layers.map((d) => ({ descriptor: d, path: content.path(d.digest) })),
      repoTags: [...rec.repoTags],
      repoDigests: [...rec.repoDigests],
    };
  }
  return undefined;
}

async function readManifestCandidate(content: ContentStore, digest: string): Promise<Buffer | undefined> {
  try {
    const st = await stat(content.path(digest));
    if (st.size > MANIFEST_LIMIT) return undefined;
    const body = await content.read(digest);
    return body[0] === 0x7b /* { */ ? body : undefined;
  } catch {
    return undefined;
  }
}
