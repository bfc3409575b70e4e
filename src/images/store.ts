/**
 * The shared OCI image store of the runc, vm and rkt backends: CRI ImageService operations (ImageStore) and
 * copy-on-write container roots (SnapshotStore) over one content store under <stateDir>/images:
 *   blobs/sha256/<hex>   content-addressed blobs          layers/<diffid hex>   unpacked layers
 *   metadata/images/     image records (JSON)             snapshots/<key>/      container roots
 *   tmp/                 in-progress downloads and unpacks, emptied by start()
 *
 * Concurrency: identical pulls (same reference and credentials) share one download; image record changes and
 * garbage collection run under one metadata lock; snapshot operations take a lock per key.
 *
 * NOTE: a pull continues when its caller gives up (the kubelet's retry joins it), bounded by pullTimeoutSeconds.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext } from '../backends/backend';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import type * as cri from '../cri/types';
import type {
  FsInfo,
  ImageStatusResult,
  ImageStore,
  PullRequest,
  ResolvedImage,
  Snapshot,
  SnapshotStore,
} from './types';
import { ContentStore } from './content-store';
import { measurePull } from './pull-metrics';
import { LayerStore } from './layer-store';
import { ImageMetadata, recordPull, type ImageRecord } from './metadata';
import { storeFsInfo } from './fs-info';
import { Snapshots } from './snapshots';
import { RegistryHosts, type Credentials, type RegistriesConfig } from './hosts';
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from './platform';
import { describeProxy, type ProxyConfig } from './proxy';
import { rootSources } from './trust';
import { Puller, type PullOutcome } from './pull';
import type { PullLimits } from './limits';
import { formatReference, parseReference, type ImageReference } from './reference';
import { findImage, toCriImage, toResolved, verboseInfo } from './image-view';
import { collectGarbage } from './gc';
import { SingleFlight } from './sync';
import { exportImage, type ExportedImage, type ImageExporter } from './export';
import { KeyedMutex } from '../util/keyed-mutex';
import { untilAbort } from '../util/abort';
import { DeadlineExceededError, NotFoundError, UnavailableError } from '../errors';

export interface OciImageStoreOptions {
  /** <stateDir>/images */
  readonly root: string;
  readonly registries: RegistriesConfig;
  readonly pullTimeoutSeconds: number;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** config.images.sandboxImage: reported pinned, so the kubelet's image GC keeps it. */
  readonly sandboxImage?: string;
  /** config.images.maxConcurrentDownloads (3 when unset). */
  readonly maxConcurrentDownloads?: number;
  /** config.images.unpackHelper: the crimux-layer helper; empty, unset or not executable: unpack in process. */
  readonly unpackHelper?: string;
  /** config.images.limits (limits.ts defaults when unset). */
  readonly limits?: PullLimits;
  /** config.images.platform: os/arch[/variant] pulled from indexes; empty or unset: the node's own. */
  readonly platform?: string;
  /** Proxy settings (proxy.ts); unset: read from the environment. */
  readonly proxy?: ProxyConfig;
}

const BACKEND = { backend: 'oci' } as const;
const META = 'meta';

export class OciImageStore implements ImageStore, SnapshotStore, ImageExporter {
  readonly name = 'oci';
  private readonly tmpDir: string;
  private readonly hosts: RegistryHosts;
  private readonly content: ContentStore;
  private readonly layers: LayerStore;
  private readonly meta: ImageMetadata;
  private readonly snaps: Snapshots;
  private readonly puller: Puller;
  private readonly pulls = new SingleFlight<string>();
  private readonly metaLock = new KeyedMutex();
  /** A collection waiting for the metadata lock (collectSoon). */
  private gcQueued: Promise<void> | undefined;
  private readonly snapLock = new KeyedMutex();
  private readonly leases = new Set<Set<string>>();
  private readonly closing = new AbortController();
  private readonly log: Logger;
  private readonly pinnedRef: string | undefined;
  private readonly platform: Platform;

  constructor(private readonly opts: OciImageStoreOptions) {
    this.log = opts.log.child({ store: 'oci' });
    this.tmpDir = path.join(opts.root, 'tmp');
    this.hosts = new RegistryHosts(opts.registries, opts.proxy ? { proxy: opts.proxy } : {});
    this.platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    this.content = new ContentStore(opts.root, this.tmpDir);
    this.layers = new LayerStore(opts.root);
    this.meta = new ImageMetadata(opts.root);
    this.snaps = new Snapshots(opts.root, this.layers.dir);
    const unpackHelper = opts.unpackHelper && executable(opts.unpackHelper) ? opts.unpackHelper : undefined;
    if (opts.unpackHelper && !unpackHelper) {
      this.log.warn('the unpack helper is not installed: layers are unpacked by the daemon', {
        helper: opts.unpackHelper,
      });
    }
    this.puller = new Puller({
      hosts: this.hosts,
      content: this.content,
      layers: this.layers,
      tmpDir: this.tmpDir,
      onBytes: (n) => opts.metrics.imagePullBytes.inc(BACKEND, n),
      ...(opts.maxConcurrentDownloads !== undefined ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
      ...(unpackHelper ? { unpackHelper } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      platform: this.platform,
    });
    this.pinnedRef = opts.sandboxImage ? formatReference(parseReference(opts.sandboxImage)) : undefined;
  }

  /** Creates the dirs, drops leftovers of a crash (temp files, half-made snapshots, orphaned content). */
  async start(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    const leftovers = await readdir(this.tmpDir);
    await Promise.allSettled(leftovers.map((n) => rm(path.join(this.tmpDir, n), { recursive: true, force: true })));
    await Promise.all([this.content.init(), this.layers.init(), this.snaps.init(), this.meta.load(this.log)]);
    await this.layers.cleanup();
    await this.metaLock.run(META, () => this.gc());
    const proxy = this.hosts.proxy;
    for (const w of proxy.warnings) this.log.warn('proxy setting ignored', { detail: w });
    this.log.info('image store started', {
      root: this.opts.root,
      images: this.meta.all().length,
      platform: formatPlatform(this.platform),
      caRoots: rootSources().total,
      systemCaFile: rootSources().systemFile ?? 'none',
      ...(proxy.httpsProxy ? { httpsProxy: describeProxy(proxy.httpsProxy) } : {}),
      ...(proxy.httpProxy ? { httpProxy: describeProxy(proxy.httpProxy) } : {}),
    });
  }

  /** Aborts pulls in progress. */
  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }

  async pull(ctx: CallContext, req: PullRequest): Promise<string> {
    const ref = parseReference(req.image);
    const image = formatReference(ref);
    if (ref.digest) {
      // Digests are immutable: an image already pulled by this digest needs no registry round trip.
      const have = findImage(this.meta.all(), image);
      if (have) return have.id;
    }
    const creds = await this.hosts.credentials(ref.domain, req.auth);
    // Callers with different credentials must not share a result (one may be allowed, the other not).
    const key = `${image}\n${createHash('sha256')
      .update(JSON.stringify(creds ?? null))
      .digest('hex')}`;
    const flight = this.pulls.run(key, () => this.doPull(ref, creds, ctx.log));
    if (!flight.leader) ctx.log.info('joining pull in progress', { image });
    return untilAbort(ctx.signal, flight.promise).catch((err: unknown) => {
      if (!ctx.signal.aborted) throw err;
      throw new DeadlineExceededError(`pull image ${image}: the caller gave up (the download goes on for a retry)`, {
        cause: err,
      });
    });
  }

  private async doPull(ref: ImageReference, creds: Credentials | undefined, log: Logger): Promise<string> {
    const image = formatReference(ref);
    const timeout = AbortSignal.timeout(this.opts.pullTimeoutSeconds * 1000);
    const signal = AbortSignal.any([this.closing.signal, timeout]);
    const lease = new Set<string>();
    this.leases.add(lease);
    const started = process.hrtime.bigint();
    log.info('pull image', { image });
    try {
      const { outcome, id } = await measurePull(this.opts.metrics, BACKEND.backend, async () => {
        const outcome = await this.puller.pull(ref, creds, signal, log, lease);
        return { outcome, id: await this.metaLock.run(META, () => this.commit(ref, outcome)) };
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      log.info('pulled image', { image, id, bytes: outcome.downloaded, seconds: seconds.toFixed(3) });
      return id;
    } catch (err) {
      const mapped = this.closing.signal.aborted
        ? new UnavailableError(`pull image ${image}: image store is shutting down`, { cause: err })
        : timeout.aborted
          ? new DeadlineExceededError(`pull image ${image}: timed out after ${this.opts.pullTimeoutSeconds}s`, {
              cause: err,
            })
          : err;
      log.warn('pull image failed', { image, error: mapped });
      throw mapped;
    } finally {
      this.leases.delete(lease);
    }
  }

  /** Records a pulled image (see recordPull). */
  private async commit(ref: ImageReference, o: PullOutcome): Promise<string> {
    const changed = recordPull(this.meta.all(), ref, o);
    for (const rec of changed) await this.meta.save(rec);
    return o.configDigest;
  }

  list(_ctx: CallContext): Promise<cri.Image[]> {
    return Promise.resolve(this.meta.all().map((r) => toCriImage(r, this.isPinned(r))));
  }

  status(_ctx: CallContext, ref: string, verbose: boolean): Promise<ImageStatusResult> {
    const rec = findImage(this.meta.all(), ref);
    if (!rec) return Promise.resolve({ image: null, info: {} });
    return Promise.resolve({ image: toCriImage(rec, this.isPinned(rec)), info: verbose ? verboseInfo(rec) : {} });
  }

  private isPinned(rec: ImageRecord): boolean {
    return (
      this.pinnedRef !== undefined &&
      (rec.repoTags.includes(this.pinnedRef) || rec.repoDigests.includes(this.pinnedRef))
    );
  }

  /**
   * Idempotent. Removing one of several tags only untags (as CRI-O does); by ID, digest or the last tag the image
   * goes, with every blob and layer nothing else references. Layers under a container root stay until it is removed.
   */
  async remove(ctx: CallContext, ref: string): Promise<void> {
    await this.metaLock.run(META, async () => {
      const rec = findImage(this.meta.all(), ref);
      if (!rec) return;
      let asked: string | undefined;
      try {
        asked = formatReference(parseReference(ref));
      } catch {
        asked = undefined;
      }
      if (asked !== undefined && rec.repoTags.includes(asked) && rec.repoTags.length > 1) {
        ctx.log.info('untag image', { image: asked, id: rec.id });
        await this.meta.save({ ...rec, repoTags: rec.repoTags.filter((t) => t !== asked) });
        return;
      }
      ctx.log.info('remove image', { image: ref, id: rec.id });
      await this.meta.delete(rec.id);
      await this.gc();
      ctx.log.info('removed image', { image: ref, id: rec.id });
    });
  }

  /** The image's stored blobs, for another store to take it in (export.ts). */
  exportImage(ref: string): Promise<ExportedImage | undefined> {
    return exportImage(this.meta.all(), this.content, ref);
  }

  fsInfo(_ctx: CallContext): Promise<FsInfo> {
    return storeFsInfo(this.opts.root, this.content, this.layers, this.snaps);
  }

  resolve(_ctx: CallContext, ref: string): Promise<ResolvedImage> {
    const rec = findImage(this.meta.all(), ref);
    if (!rec) return Promise.reject(new NotFoundError(`resolve image ${ref}: not pulled`, { context: { image: ref } }));
    return Promise.resolve(toResolved(rec, ref, (d) => this.layers.path(d)));
  }

  prepare(ctx: CallContext, key: string, ref: string, opts: { readonly readonly: boolean }): Promise<Snapshot> {
    return this.snapLock.run(key, async () => {
      const existing = await this.snaps.record(key);
      let diffIds = existing?.diffIds;
      if (!diffIds) {
        // Under the metadata lock: once the record exists, garbage collection keeps its layers.
        diffIds = await this.metaLock.run(META, async () => {
          const rec = findImage(this.meta.all(), ref);
          if (!rec)
            throw new NotFoundError(`prepare snapshot ${key}: image ${ref} not pulled`, { context: { image: ref } });
          const createdAt = new Date().toISOString();
          await this.snaps.create({
            version: 1,
            key,
            imageId: rec.id,
            diffIds: rec.diffIds,
            readonly: opts.readonly,
            createdAt,
          });
          return rec.diffIds;
        });
      }
      ctx.log.info('mount snapshot', { key, image: ref, readonly: existing?.readonly ?? opts.readonly });
      try {
        const snap = await this.snaps.mount(
          key,
          diffIds.map((d) => this.layers.path(d)),
        );
        ctx.log.info('mounted snapshot', { key, rootfs: snap.rootfs });
        return snap;
      } catch (err) {
        if (!existing) await this.snaps.remove(key).catch(() => undefined);
        throw err;
      }
    });
  }

  /** Idempotent: unmounts, deletes, and collects layers only this snapshot still held. */
  async removeSnapshot(ctx: CallContext, key: string): Promise<void> {
    await this.snapLock.run(key, async () => {
      if (!(await this.snaps.record(key))) {
        await this.snaps.remove(key);
        return;
      }
      ctx.log.info('remove snapshot', { key });
      await this.snaps.remove(key);
      ctx.log.info('removed snapshot', { key });
    });
    await this.collectSoon();
  }

  usage(key: string): Promise<{ bytes: number; inodes: number }> {
    return this.snaps.usage(key);
  }

  keys(): Promise<string[]> {
    return this.snaps.keys();
  }

  /**
   * A collection after a snapshot removal. One that is queued and has not started yet sees this removal too, so
   * it is joined rather than queued again: removing 1,000 containers (a node drained) then reads every snapshot
   * record a few times, not once per removal. Resolves when a collection that saw the removal has finished.
   */
  private collectSoon(): Promise<void> {
    if (this.gcQueued) return this.gcQueued;
    const queued = this.metaLock.run(META, () => {
      if (this.gcQueued === queued) this.gcQueued = undefined;
      return this.gc();
    });
    this.gcQueued = queued;
    return queued;
  }

  /** Call with the metadata lock held. */
  private async gc(): Promise<void> {
    const snapshots = await this.snaps.records();
    await collectGarbage({
      content: this.content,
      layers: this.layers,
      images: this.meta.all(),
      snapshots,
      leases: this.leases,
      log: this.log,
    });
  }
}

/** Whether `file` can be run (a helper configured but not installed falls back to in-process work). */
function executable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
