/**
 * Fetches one layer in a single pass: the registry's response streams through a digest meter into the blob's temp
 * file and, at the same time, through the decompressor and a diff-ID meter into `tar -x` in a temp dir (with the
 * crimux-layer helper, all of that but the byte count happens in the helper). Nothing
 * becomes visible until the blob digest, its size and the diff ID all match; then the blob and the layer dir are
 * renamed into place. Any failure, or an abort of the pull (a sibling layer failed), stops every stream and child
 * at once and removes both temp copies. When the blob is already stored the layer is unpacked from it (verified
 * again on the way: blobs are not fsynced, so a blob a crash damaged is noticed here, dropped and downloaded anew);
 * when the layer is already unpacked, only the blob is fetched.
 *
 * The decompress → diff ID → tar stage runs in the crimux-layer helper where it is installed (native-unpack.ts), so
 * the event loop only receives, hashes and stores the compressed bytes; else in this process (layer-unpack.ts).
 *
 * Limits (limits.ts): the declared size, the uncompressed bytes (the diff-ID meter) and the entry count (tar's own
 * listing) are bounded, so a decompression or inode bomb fails the pull instead of filling the disk.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore, Ingest, Reservation } from './content-store';
import type { LayerStore } from './layer-store';
import type { Compression, Descriptor } from './manifest';
import type { RegistryClient } from './registry-client';
import { Coalescer } from './coalesce';
import { DigestMeter } from './digest';
import { checkDeclared, overLimit, type PullLimits } from './limits';
import { settle, unpackLayer, type Unpacking } from './layer-unpack';
import { convertWhiteouts, LAYER_TOO_LARGE, TOO_MANY_ENTRIES } from './unpack';
import { exists, tmpName } from './fsutil';
import { CrimuxError, errorKind, InternalError, InvalidArgumentError, UnimplementedError } from '../errors';

const READ_CHUNK = 1 << 20;

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
  readonly limits: PullLimits;
  /** Aborted when the pull ends early (timeout, shutdown, a sibling layer failed). */
  readonly signal: AbortSignal;
  /** Called with the count of newly downloaded bytes as they arrive. */
  readonly onBytes: (n: number) => void;
  /** The crimux-layer helper (native-unpack.ts); unset: layers are unpacked in this process. */
  readonly unpackHelper?: string;
}

export interface LayerResult {
  /** Bytes fetched from the registry (0 when the blob was already stored). */
  readonly downloaded: number;
  readonly unpacked: boolean;
}

/** A stored blob that no longer matches its digest (damaged by a crash before the page cache was written back). */
class StoredBlobDamaged extends Error {}

/** Names what went wrong: a broken download (Unavailable), bad content (InvalidArgument), a limit, or unpacking. */
function classify(env: LayerEnv, job: LayerJob, fromStore: boolean, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const what = `layer ${job.desc.digest}`;
  if (e?.name === 'AbortError') return e;
  if (e?.code === TOO_MANY_ENTRIES)
    return overLimit(env.image, `${what} entry count`, 'layerEntries', env.limits.layerEntries);
  if (e?.code === LAYER_TOO_LARGE)
    return overLimit(env.image, `${what} uncompressed size`, 'layerBytes', env.limits.layerBytes);
  if (err instanceof CrimuxError && err.kind === 'ResourceExhausted') return err;
  if (fromStore) return new StoredBlobDamaged(`${what}: ${e?.message ?? String(err)}`);
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
  return env.client.transport(`blob ${job.desc.digest}`, err);
}

export async function fetchLayer(env: LayerEnv, job: LayerJob): Promise<LayerResult> {
  checkDeclared(env.image, `layer ${job.desc.digest}`, job.desc.size, 'layerBytes', env.limits);
  const haveLayer = await env.layers.has(job.diffId);
  const haveBlob = await env.content.has(job.desc.digest);
  if (haveLayer && haveBlob) return { downloaded: 0, unpacked: false };
  if (haveBlob) {
    try {
      return await transfer(env, job, true, !haveLayer);
    } catch (err) {
      if (!(err instanceof StoredBlobDamaged)) throw err;
      await env.content.delete(job.desc.digest);
    }
  }
  return transfer(env, job, false, !haveLayer);
}

/** One pass over the blob, from the registry or the store, into the content store and/or a layer dir. */
async function transfer(env: LayerEnv, job: LayerJob, fromStore: boolean, unpack: boolean): Promise<LayerResult> {
  const { desc, diffId } = job;
  const stop = new AbortController();
  const signal = AbortSignal.any([env.signal, stop.signal]);
  const source: Readable = fromStore
    ? createReadStream(env.content.path(desc.digest), { highWaterMark: READ_CHUNK })
    : (await env.client.blob(desc.digest)).body;
  // With the helper, it hashes the compressed bytes (and stores a download's blob) too: the event loop only
  // counts and forwards them.
  const helper = unpack ? env.unpackHelper : undefined;
  const meter = new DigestMeter({
    limit: desc.size,
    hash: helper === undefined,
    onProgress: fromStore ? undefined : progress(env.onBytes),
  });
  // Up to three pipelines share the meter (in, to the blob file, to tar), each with its own listeners.
  meter.setMaxListeners(32);
  const layerTmp = unpack ? path.join(env.tmpDir, tmpName('layer')) : undefined;
  let ingest: Ingest | undefined;
  let reserved: Reservation | undefined;
  let unpacking: Unpacking | undefined;
  try {
    if (!fromStore && helper) reserved = env.content.reserve();
    else if (!fromStore) ingest = await env.content.ingest();
    // Every consumer is attached before data flows: a chunk read before the second pipe exists would be lost.
    if (layerTmp) await mkdir(layerTmp, { mode: 0o755 });
    const parts: Promise<unknown>[] = [];
    const opts = { signal };
    if (ingest) parts.push(pipeline(meter, ingest.file, opts));
    if (layerTmp) {
      unpacking = unpackLayer({
        dir: layerTmp,
        compression: job.compression,
        maxEntries: env.limits.layerEntries,
        maxBytes: env.limits.layerBytes,
        ...(helper ? { helper } : {}),
        ...(reserved ? { blob: reserved.path } : {}),
      });
      parts.push(pipeline(meter, unpacking.input, opts), unpacking.result);
    }
    // Socket reads are gathered into 1 MiB chunks for this process's own file writes and unpack; the helper's
    // socket takes the reads as they come (queued writes leave together), which spares a copy of every byte.
    const gather = !fromStore && !helper;
    parts.push(gather ? pipeline(source, new Coalescer(READ_CHUNK), meter, opts) : pipeline(source, meter, opts));
    // On the first failure everything stops at once: tar and zstd may be blocked on a stream that never ends.
    await settle(parts, () => {
      unpacking?.kill();
      stop.abort();
    }).catch((err: unknown) => {
      throw classify(
        env,
        job,
        fromStore,
        env.signal.aborted && errorKind(err) !== 'ResourceExhausted' ? abortOf(env.signal) : err,
      );
    });

    const unpacked = await unpacking?.result;
    const got = unpacked?.blob ?? { digest: meter.digest(), bytes: meter.bytes };
    if (got.digest !== desc.digest || got.bytes !== desc.size) {
      if (fromStore) throw new StoredBlobDamaged(`blob ${desc.digest}: stored copy has digest ${got.digest}`);
      throw new InvalidArgumentError(
        `pull image ${env.image}: blob ${desc.digest} failed verification: got ${got.bytes} bytes with digest ${got.digest}`,
      );
    }
    if (unpacked && layerTmp) {
      if (unpacked.diffId !== diffId) {
        throw new InvalidArgumentError(
          `pull image ${env.image}: layer ${desc.digest} has diff ID ${unpacked.diffId}, the image config says ${diffId}`,
        );
      }
      // The cheap scan for ".wh." spares a tree walk for the many layers without whiteouts.
      if (unpacked.mayHaveWhiteouts) await convertWhiteouts(layerTmp);
    }
    if (ingest) await ingest.commit(desc.digest);
    if (reserved) await reserved.commit(desc.digest);
    if (layerTmp) await env.layers.commit(diffId, layerTmp);
    return { downloaded: fromStore ? 0 : meter.bytes, unpacked: layerTmp !== undefined };
  } finally {
    source.destroy();
    await ingest?.abort();
    await reserved?.abort();
    if (layerTmp && (await exists(layerTmp))) await rm(layerTmp, { recursive: true, force: true });
  }
}

/** The error of an aborted pull: its reason when that is an error, else a plain AbortError. */
function abortOf(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === 'AbortError') return r;
  return Object.assign(new Error('the pull was aborted'), { name: 'AbortError' });
}

/** Turns cumulative byte counts into increments. */
function progress(onBytes: (n: number) => void): (total: number) => void {
  let last = 0;
  return (total) => {
    onBytes(total - last);
    last = total;
  };
}
