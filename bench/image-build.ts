/**
 * Builds fresh benchmark images of a few shapes and pushes them to the local test registry: layers are made with
 * GNU tar from random (incompressible) files, compressed with gzip or zstd, written into an OCI layout by hand
 * (umoci's raw add-layer only knows gzip) and pushed with `skopeo copy`, as scripts/test-images.sh does.
 * Every build gets new random content, so a pull of it is never served from an earlier pull's layers.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export type Compression = 'gzip' | 'zstd';

export interface Shape {
  readonly name: string;
  /** Per layer: how many files of how many bytes. */
  readonly layers: readonly { readonly files: number; readonly bytes: number }[];
}

const MB = 1 << 20;
export const SHAPES: Record<string, Shape> = {
  one160: { name: 'one160', layers: [{ files: 1, bytes: 160 * MB }] },
  four40: { name: 'four40', layers: Array.from({ length: 4 }, () => ({ files: 1, bytes: 40 * MB })) },
  small30: { name: 'small30', layers: Array.from({ length: 30 }, () => ({ files: 20, bytes: 16 << 10 })) },
};

export interface BuiltImage {
  /** Reference as a runtime pulls it from the registry, e.g. 127.0.0.1:5000/bench/one160-gzip:<tag>. */
  readonly ref: string;
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
}

export function run(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function randomFile(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'wx', 0o644);
  try {
    for (let left = bytes; left > 0; left -= MB) await fh.write(randomBytes(Math.min(MB, left)));
  } finally {
    await fh.close();
  }
}

async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function putBlob(layout: string, file: string): Promise<{ digest: string; size: number }> {
  const digest = await fileDigest(file);
  await rename(file, path.join(layout, 'blobs', 'sha256', digest.slice(7)));
  const { size } = await stat(path.join(layout, 'blobs', 'sha256', digest.slice(7)));
  return { digest, size };
}

async function putJson(layout: string, value: unknown): Promise<{ digest: string; size: number }> {
  const body = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  await writeFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), body);
  return { digest, size: body.length };
}

/** Builds one fresh image of `shape` and pushes it to 127.0.0.1:<port>/bench/<shape>-<compression>:<tag>. */
export async function buildAndPush(port: number, shape: Shape, compression: Compression): Promise<BuiltImage> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'crimux-bench-build-'));
  const layout = path.join(work, 'oci');
  try {
    await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const layers: { digest: string; size: number }[] = [];
    const diffIds: string[] = [];
    let uncompressed = 0;
    for (const [i, spec] of shape.layers.entries()) {
      const dir = path.join(work, `l${i}`);
      await mkdir(path.join(dir, `layer${i}`), { recursive: true });
      for (let f = 0; f < spec.files; f++) await randomFile(path.join(dir, `layer${i}`, `f${f}`), spec.bytes);
      const tar = path.join(work, `l${i}.tar`);
      await run('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-cf', tar, '.']);
      uncompressed += (await stat(tar)).size;
      diffIds.push(await fileDigest(tar));
      const blob = `${tar}.${compression === 'gzip' ? 'gz' : 'zst'}`;
      if (compression === 'gzip') await run('sh', ['-c', 'gzip -1 -n -c "$1" > "$2"', 'sh', tar, blob]);
      else await run('zstd', ['-q', '-3', '-T0', '-o', blob, tar]);
      await rm(tar);
      await rm(dir, { recursive: true });
      layers.push(await putBlob(layout, blob));
    }
    const config = await putJson(layout, {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    const manifest = await putJson(layout, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar+${compression}`, ...l })),
    });
    const tag = randomBytes(6).toString('hex');
    await writeFile(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    const repo = `127.0.0.1:${port}/bench/${shape.name}-${compression}`;
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${repo}:${tag}`]);
    return {
      ref: `${repo}:${tag}`,
      compressedBytes: layers.reduce((n, l) => n + l.size, 0),
      uncompressedBytes: uncompressed,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
