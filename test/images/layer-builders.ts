/**
 * Layers the fake registry cannot build from a file map: huge streams of zeros (decompression bombs, and big
 * layers for the memory test) compressed chunk by chunk so the uncompressed bytes never sit in memory, and images
 * assembled from ready blobs.
 */
import { createHash } from 'node:crypto';
import { createGzip } from 'node:zlib';
import { sha, type FakeImage } from './fake-registry';

export interface ReadyLayer {
  readonly blob: Buffer;
  readonly diffId: string;
  readonly mediaType: string;
}

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14670473200\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A gzip layer holding one file of `bytes` zeros (a multiple of 512), built in 1 MiB steps. */
export async function zeroLayer(bytes: number, name = 'zeros'): Promise<ReadyLayer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((resolve) => gz.on('end', resolve));
  const diff = createHash('sha256');
  const put = async (b: Buffer): Promise<void> => {
    diff.update(b);
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  };
  await put(tarHeader(name, bytes));
  const mib = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= mib.length) await put(mib.subarray(0, Math.min(mib.length, left)));
  await put(Buffer.alloc(1024));
  gz.end();
  await ended;
  return {
    blob: Buffer.concat(out),
    diffId: `sha256:${diff.digest('hex')}`,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  };
}

/** An image (one config, one manifest) of ready layers. */
export function imageOfLayers(layers: readonly ReadyLayer[]): FakeImage {
  const blobs = new Map<string, Buffer>();
  for (const l of layers) blobs.set(sha(l.blob), l.blob);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  blobs.set(sha(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha(l.blob), size: l.blob.length })),
    }),
  );
  return {
    manifest,
    manifestDigest: sha(manifest),
    configDigest: sha(config),
    layerDigests: layers.map((l) => sha(l.blob)),
    blobs,
  };
}
