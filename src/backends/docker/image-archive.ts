/**
 * An image archive for `POST /images/load`, streamed straight from the shared store's blob files: a docker-archive
 * (manifest.json naming the config and the layer blobs; dockerd 20.10 reads only this) that is at the same time an
 * OCI image layout (oci-layout, index.json, blobs/sha256/…; what dockerd 25+ and containerd also read). Layers go
 * in compressed, exactly as pulled: Docker's loader decompresses them and checks each diff ID against the config,
 * and the image ID it computes is the digest of the config bytes written here.
 *
 * zstd layers are the exception (dockerd 20.10 cannot read them, zstd-layer.ts): an image with one goes in as a
 * docker-archive only, its zstd layers decompressed under layers/<digest hex>.tar (they no longer match the
 * manifest's descriptors, so no OCI layout is claimed); Docker still checks every diff ID and the config digest.
 *
 * The tar is plain ustar written here (names are at most 76 bytes: "blobs/sha256/<64 hex>"), so no dependency.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ExportedImage, ExportedLayer } from '../../images/export';
import { InternalError } from '../../errors';
import { needsDecompression, zstdChunks, zstdSize } from './zstd-layer';

const BLOCK = 512;
// An 11-digit octal size field holds up to 8 GiB - 1.
const MAX_ENTRY = 8 ** 11 - 1;

/** The names the archive gives blobs, shared by both layouts. */
const blobName = (digest: string): string => `blobs/sha256/${digest.replace(/^sha256:/, '')}`;

/** Where a layer goes in the archive: its blob as stored, or (zstd) decompressed beside the blobs. */
const layerName = (l: ExportedLayer): string =>
  needsDecompression(l.descriptor.mediaType)
    ? `layers/${l.descriptor.digest.replace(/^sha256:/, '')}.tar`
    : blobName(l.descriptor.digest);

/** Whether the archive can also be an OCI layout: every layer goes in as the manifest describes it. */
const asStored = (img: ExportedImage): boolean => !img.layers.some((l) => needsDecompression(l.descriptor.mediaType));

/** docker-archive's manifest.json for one image with the given repo tags. */
export function dockerManifest(img: ExportedImage, repoTags: readonly string[]): Buffer {
  const entry = {
    Config: blobName(img.id),
    RepoTags: [...repoTags],
    Layers: img.layers.map(layerName),
  };
  return Buffer.from(JSON.stringify([entry]));
}

/** The OCI layout's index.json: one manifest, named by its first tag (as `docker save` of 25+ does). */
export function ociIndex(img: ExportedImage, repoTags: readonly string[]): Buffer {
  const mediaType = manifestMediaType(img.manifest);
  const annotations = repoTags[0] ? { 'io.containerd.image.name': repoTags[0] } : undefined;
  const manifest = {
    mediaType,
    digest: img.manifestDigest,
    size: img.manifest.length,
    ...(annotations ? { annotations } : {}),
  };
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest] }),
  );
}

function manifestMediaType(body: Buffer): string {
  try {
    const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof mt === 'string' && mt) return mt;
  } catch {
    // the store verified it when pulling; fall through to the OCI default
  }
  return 'application/vnd.oci.image.manifest.v1+json';
}

/** One ustar header block for a regular file. */
export function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new InternalError(`write image archive: entry name too long: ${name}`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ENTRY) {
    throw new InternalError(`write image archive: entry ${name} of ${size} bytes does not fit a ustar header`);
  }
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100, 'ascii'); // mode
  h.write('0000000\0', 108, 'ascii'); // uid
  h.write('0000000\0', 116, 'ascii'); // gid
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii'); // mtime: fixed, so an archive is reproducible
  h.write('        ', 148, 'ascii'); // checksum placeholder: spaces while summing
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

async function* entries(img: ExportedImage, repoTags: readonly string[]): AsyncGenerator<Buffer> {
  const oci: [string, Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', ociIndex(img, repoTags)],
    [blobName(img.manifestDigest), img.manifest],
  ];
  const small: [string, Buffer][] = [
    ...(asStored(img) ? oci : []),
    ['manifest.json', dockerManifest(img, repoTags)],
    [blobName(img.id), img.config],
  ];
  for (const [name, body] of small) {
    yield tarHeader(name, body.length);
    yield body;
    yield padding(body.length);
  }
  const seen = new Set<string>();
  for (const layer of img.layers) {
    const { digest, mediaType } = layer.descriptor;
    if (seen.has(digest)) continue; // the same layer twice in one image is stored (and archived) once
    seen.add(digest);
    const decompress = needsDecompression(mediaType);
    const size = decompress ? await zstdSize(layer.path) : layer.descriptor.size;
    yield tarHeader(layerName(layer), size);
    let written = 0;
    for await (const chunk of decompress ? zstdChunks(layer.path) : createReadStream(layer.path)) {
      written += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    // The header promised `size` bytes; a blob of another length would shift every later entry.
    if (written !== size)
      throw new InternalError(`write image archive: layer ${digest} gave ${written} bytes, expected ${size}`);
    yield padding(size);
  }
  yield Buffer.alloc(2 * BLOCK);
}

/** The archive as a stream; a blob that cannot be read errors the stream (and so the load). */
export function imageArchive(img: ExportedImage, repoTags: readonly string[]): Readable {
  return Readable.from(entries(img, repoTags), { objectMode: false });
}
