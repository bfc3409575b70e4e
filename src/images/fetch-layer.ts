/**
 * Fetches one layer in a single pass: the registry's response streams through a digest meter into the blob's temp
 * file and, at the same time, through the decompressor and a diff-ID meter into `tar -x` in a temp dir. Nothing
 * becomes visible until the blob digest, its size and the diff ID all match; then the blob and the layer dir are
 * renamed into place. Any failure removes both temp copies. When the blob is already stored, the layer is
 * unpacked from it; when the layer is already unpacked, only the blob is fetched.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ContentStore, Ingest } from './content-store';
import type { LayerStore } from './layer-store';
import type { Compression, Descriptor } from './manifest';
import type { RegistryClient } from './registry-client';
import { DigestMeter } from './digest';
import { convertWhiteouts, extractTar, WHITEOUT_PREFIX, zstdDecompressor, type Extraction } from './unpack';
import { exists, tmpName } from './fsutil';
import { handleErrors } from '../util/streams';
import { CrimuxError, InternalError, InvalidArgumentError, UnimplementedError } from '../errors';

export interface LayerJob {
  readonly desc: Descriptor;
  readonly diffId: string;
  readonly compression: Compression;
}

export interface LayerEnv {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly tmpDir: string;
  readonly client: RegistryClient;
  readonly image: string;
  /** Called with the count of newly downloaded bytes as they arrive. */
  readonly onBytes: (n: number) => void;
}

export interface LayerResult {
  /** Bytes fetched from the registry (0 when the blob was already stored). */
  readonly downloaded: number;
  readonly unpacked: boolean;
}

function decompressor(c: Compression): { stream: Duplex | undefined; done: Promise<void> } {
  if (c === 'gzip') return { stream: createGunzip(), done: Promise.resolve() };
  if (c === 'none') return { stream: undefined, done: Promise.resolve() };
  const z = zstdDecompressor();
  const { stdin, stdout } = z.child;
  if (!stdin || !stdout) throw new UnimplementedError('zstd layers need the zstd program');
  return { stream: handleErrors(Duplex.from({ writable: stdin, readable: stdout }), 'zstd'), done: z.done };
}

/**
 * Waits for every stream and process of the fetch. The error that came first in time is the cause; the others
 * are streams torn down because of it (premature close, EPIPE).
 */
async function settle(parts: Promise<unknown>[], onFirstError: () => void): Promise<void> {
  let first: { err: unknown } | undefined;
  await Promise.allSettled(
    parts.map((p) =>
      p.catch((err: unknown) => {
        if (!first) onFirstError();
        first ??= { err };
      }),
    ),
  );
  if (first) throw first.err;
}

/** Names what went wrong: a broken download (Unavailable), bad content (InvalidArgument), or unpacking (Internal). */
function classify(env: LayerEnv, job: LayerJob, haveBlob: boolean, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const what = `layer ${job.desc.digest}`;
  if (e?.name === 'AbortError') return e;
  if (e?.code === DigestMeter.TOO_LARGE) {
    return new InvalidArgumentError(`pull image ${env.image}: ${what} failed verification: ${e.message}`);
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new InvalidArgumentError(`pull image ${env.image}: ${what} is not valid ${job.compression}: ${e.message}`);
  }
  if (e instanceof CrimuxError && e.kind === 'Unimplemented') {
    return new UnimplementedError(`pull image ${env.image}: ${what}: ${e.message}`, { cause: e });
  }
  if (e instanceof CrimuxError) {
    return new InternalError(`pull image ${env.image}: unpack ${what}: ${e.message}`, { cause: e });
  }
  if (haveBlob) return new InternalError(`pull image ${env.image}: read stored ${what}: ${e?.message ?? String(err)}`);
  return env.client.transport(`blob ${job.desc.digest}`, err);
}

export async function fetchLayer(env: LayerEnv, job: LayerJob): Promise<LayerResult> {
  const { desc, diffId } = job;
  const haveLayer = await env.layers.has(diffId);
  const haveBlob = await env.content.has(desc.digest);
  if (haveLayer && haveBlob) return { downloaded: 0, unpacked: false };

  let source: Readable;
  if (haveBlob) {
    source = createReadStream(env.content.path(desc.digest));
  } else {
    source = (await env.client.blob(desc.digest)).body;
  }
  const meter = new DigestMeter({ limit: desc.size, onProgress: haveBlob ? undefined : progress(env.onBytes) });
  // Up to three pipelines share the meter (in, to the blob file, to tar), each with its own listeners.
  meter.setMaxListeners(32);
  const layerTmp = haveLayer ? undefined : path.join(env.tmpDir, tmpName('layer'));
  let ingest: Ingest | undefined;
  let extraction: Extraction | undefined;
  let diffMeter: DigestMeter | undefined;
  try {
    if (!haveBlob) ingest = await env.content.ingest();
    // Every consumer is attached before data flows: a chunk read before the second pipe exists would be lost.
    if (layerTmp) await mkdir(layerTmp, { mode: 0o755 });
    const parts: Promise<unknown>[] = [];
    if (ingest) parts.push(pipeline(meter, ingest.file));
    if (layerTmp) {
      extraction = extractTar(layerTmp);
      diffMeter = new DigestMeter({ needle: Buffer.from(WHITEOUT_PREFIX) });
      const dec = decompressor(job.compression);
      const toTar = dec.stream
        ? pipeline(meter, dec.stream, diffMeter, extraction.input)
        : pipeline(meter, diffMeter, extraction.input);
      parts.push(toTar, dec.done, extraction.done);
    }
    parts.push(pipeline(source, meter));
    // On the first failure tar is killed at once: it may be blocked reading a stream that will never end.
    await settle(parts, () => extraction?.kill()).catch((err: unknown) => {
      throw classify(env, job, haveBlob, err);
    });

    const got = meter.digest();
    if (got !== desc.digest || meter.bytes !== desc.size) {
      throw new InvalidArgumentError(
        `pull image ${env.image}: blob ${desc.digest} failed verification: got ${meter.bytes} bytes with digest ${got}`,
      );
    }
    if (diffMeter && layerTmp) {
      const gotDiff = diffMeter.digest();
      if (gotDiff !== diffId) {
        throw new InvalidArgumentError(
          `pull image ${env.image}: layer ${desc.digest} has diff ID ${gotDiff}, the image config says ${diffId}`,
        );
      }
      // The cheap scan for ".wh." spares a tree walk for the many layers without whiteouts.
      if (diffMeter.sawNeedle) await convertWhiteouts(layerTmp);
    }
    if (ingest) await ingest.commit(desc.digest);
    if (layerTmp) await env.layers.commit(diffId, layerTmp);
    return { downloaded: haveBlob ? 0 : meter.bytes, unpacked: layerTmp !== undefined };
  } finally {
    source.destroy();
    await ingest?.abort();
    if (layerTmp && (await exists(layerTmp))) await rm(layerTmp, { recursive: true, force: true });
  }
}

/** Turns cumulative byte counts into increments. */
function progress(onBytes: (n: number) => void): (total: number) => void {
  let last = 0;
  return (total) => {
    onBytes(total - last);
    last = total;
  };
}
