/**
 * One image pull: resolve the reference at the configured endpoints (in order; the next one is tried only when
 * one is unreachable or lacks the image), select the node's platform from an index (platform.ts), fetch the config, then fetch and
 * unpack the layers `maxConcurrentDownloads` at a time (containerd's default is 3): each layer streams once through
 * digest verification, decompression and `tar -x` (fetch-layer.ts), and the first layer that fails aborts its
 * siblings at once. Small blobs (index, manifest, config) are stored
 * last, once every layer is in place. Every digest the pull touches goes into `lease` as soon as it is known, so a
 * concurrent garbage collection cannot remove what this pull is about to reference.
 *
 * NOTE: two different images sharing a layer, pulled at the same moment, may both download it; the second commit
 * finds the layer in place and drops its copy (layer-store.ts), so the result is right, only the work is doubled.
 * The kubelet pulls one image at a time by default (serializeImagePulls).
 */
import type { Logger } from '../log/logger';
import type { ContentStore } from './content-store';
import type { LayerStore } from './layer-store';
import type { Credentials, Endpoint, RegistryHosts } from './hosts';
import { RegistryClient, type FetchedManifest } from './registry-client';
import {
  layerCompression,
  manifestKind,
  parseConfig,
  parseManifest,
  selectPlatform,
  type OciImageConfig,
} from './manifest';
import { fetchLayer, type LayerJob } from './fetch-layer';
import { formatReference, type ImageReference } from './reference';
import { mapLimitFailFast } from './sync';
import { checkDeclared, DEFAULT_LIMITS, type PullLimits } from './limits';
import { formatPlatform, platformRank, type Platform } from './platform';
import { errorKind, InvalidArgumentError } from '../errors';

const DEFAULT_CONCURRENCY = 3;
const PROGRESS_EVERY_MS = 5000;
const REPORT_BYTES = 8 << 20;

export interface PullOutcome {
  readonly configDigest: string;
  readonly config: OciImageConfig;
  readonly diffIds: string[];
  /** Digest of what the reference resolved to (index or manifest): the repo digest. */
  readonly topDigest: string;
  readonly blobs: string[];
  readonly size: number;
  readonly downloaded: number;
}

export interface PullerDeps {
  readonly hosts: RegistryHosts;
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly tmpDir: string;
  /** Counts downloaded bytes (metrics). */
  readonly onBytes: (n: number) => void;
  /** Layers fetched at once (config images.maxConcurrentDownloads). */
  readonly maxConcurrentDownloads?: number;
  /** The crimux-layer helper (native-unpack.ts); unset: layers are unpacked in this process. */
  readonly unpackHelper?: string;
  readonly limits?: PullLimits;
  /** The platform chosen from image indexes (config images.platform, else the node's own). */
  readonly platform: Platform;
}

export class Puller {
  constructor(private readonly deps: PullerDeps) {}

  async pull(
    ref: ImageReference,
    creds: Credentials | undefined,
    signal: AbortSignal,
    log: Logger,
    lease: Set<string>,
  ): Promise<PullOutcome> {
    const endpoints = this.deps.hosts.endpoints(ref.domain);
    let lastErr: unknown;
    for (const [i, ep] of endpoints.entries()) {
      try {
        return await this.pullFrom(ep, ref, creds, signal, log.child({ endpoint: ep.host }), lease);
      } catch (err) {
        lastErr = err;
        const kind = errorKind(err);
        const more = i < endpoints.length - 1;
        if (!more || signal.aborted || (kind !== 'Unavailable' && kind !== 'NotFound')) throw err;
        log.warn('registry endpoint failed, trying the next one', { endpoint: ep.host, error: err });
      }
    }
    throw lastErr;
  }

  private async pullFrom(
    ep: Endpoint,
    ref: ImageReference,
    creds: Credentials | undefined,
    signal: AbortSignal,
    log: Logger,
    lease: Set<string>,
  ): Promise<PullOutcome> {
    const image = formatReference(ref);
    const limits = this.deps.limits ?? DEFAULT_LIMITS;
    // Aborted by the first failed layer, so its siblings stop at once instead of downloading on.
    const layersFailed = new AbortController();
    const pullSignal = AbortSignal.any([signal, layersFailed.signal]);
    const transport = await this.deps.hosts.transport(ep, ref.domain);
    const client = new RegistryClient(ep, transport, ref.path, creds, pullSignal, image, limits.manifestBytes);
    const top = await client.manifest(ref.digest ?? ref.tag ?? 'latest');
    lease.add(top.digest);
    let manifest: FetchedManifest = top;
    const small: FetchedManifest[] = [top];
    if (manifestKind(top.contentType, top.body) === 'index') {
      const chosen = selectPlatform(top.body, image, this.deps.platform);
      checkDeclared(image, `manifest ${chosen.digest}`, chosen.size, 'manifestBytes', limits);
      manifest = await client.manifest(chosen.digest);
      if (manifest.body.length !== chosen.size) {
        throw new InvalidArgumentError(`pull image ${image}: manifest ${chosen.digest} size differs from the index`);
      }
      if (manifestKind(manifest.contentType, manifest.body) !== 'manifest') {
        throw new InvalidArgumentError(`pull image ${image}: nested image indexes are not supported`);
      }
      lease.add(manifest.digest);
      small.push(manifest);
    }
    const m = parseManifest(manifest.body);
    checkDeclared(image, `image config ${m.config.digest}`, m.config.size, 'configBytes', limits);
    lease.add(m.config.digest);
    const configBody =
      (await this.deps.content.readVerified(m.config.digest)) ??
      (await client.smallBlob(m.config.digest, m.config.size));
    const config = parseConfig(configBody, m.layers.length);
    if (small.length === 1 && config.os && config.architecture) {
      // A single-platform image is pulled whatever its platform, as containerd and CRI-O do (an emulator may run
      // it); a mismatch is worth a line, since the usual outcome is "exec format error" at start.
      const own = {
        os: config.os,
        architecture: config.architecture,
        ...(config.variant ? { variant: config.variant } : {}),
      };
      if (platformRank(this.deps.platform, own) === undefined) {
        log.warn('image is for another platform than the node', {
          image,
          imagePlatform: formatPlatform(own),
          nodePlatform: formatPlatform(this.deps.platform),
        });
      }
    }
    const diffIds = config.rootfs.diff_ids;
    const jobs: LayerJob[] = m.layers.map((desc, i) => {
      lease.add(desc.digest);
      lease.add(diffIds[i] as string);
      return { desc, diffId: diffIds[i] as string, compression: layerCompression(desc.mediaType) };
    });

    const total = m.layers.reduce((n, l) => n + l.size, 0);
    let received = 0;
    // The byte counter is fed in batches: one metric update per socket read (64 KiB) cost a third of a 160 MiB
    // pull's CPU in garbage collection (bench/results/image-pull-profile.md).
    let unreported = 0;
    const report = (): void => {
      if (unreported > 0) this.deps.onBytes(unreported);
      unreported = 0;
    };
    const started = Date.now();
    log.info('pulling image', { image, layers: jobs.length, bytes: total });
    const ticker = setInterval(() => {
      const s = (Date.now() - started) / 1000;
      report();
      log.info('pull progress', { image, bytes: received, total, rate: rate(received, s) });
    }, PROGRESS_EVERY_MS);
    ticker.unref();
    const concurrency = Math.max(1, this.deps.maxConcurrentDownloads ?? DEFAULT_CONCURRENCY);
    try {
      await mapLimitFailFast(
        jobs,
        concurrency,
        async (job) => {
          const t0 = Date.now();
          const res = await fetchLayer(
            {
              ...this.deps,
              client,
              image,
              limits,
              signal: pullSignal,
              onBytes: (n) => {
                received += n;
                unreported += n;
                if (unreported >= REPORT_BYTES) report();
              },
            },
            job,
          );
          if (res.downloaded > 0 || res.unpacked) {
            const s = (Date.now() - t0) / 1000;
            log.info('pulled layer', {
              image,
              layer: job.desc.digest,
              bytes: res.downloaded,
              unpacked: res.unpacked,
              seconds: s.toFixed(3),
              rate: rate(res.downloaded, s),
            });
          }
          return res;
        },
        (reason) => {
          log.warn('layer failed, stopping the other layers of the pull', { image, error: reason });
          layersFailed.abort();
        },
      );
    } finally {
      clearInterval(ticker);
      report();
    }

    const puts = await Promise.allSettled([
      this.deps.content.put(m.config.digest, configBody),
      ...small.map((s) => this.deps.content.put(s.digest, s.body)),
    ]);
    const putFailed = puts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (putFailed) throw putFailed.reason;
    const blobs = [...small.map((s) => s.digest), m.config.digest, ...m.layers.map((l) => l.digest)];
    const size = small.reduce((n, s) => n + s.body.length, 0) + configBody.length + total;
    return { configDigest: m.config.digest, config, diffIds, topDigest: top.digest, blobs, size, downloaded: received };
  }
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / 1048576 / Math.max(seconds, 0.001)).toFixed(1)}MiB/s`;
}
