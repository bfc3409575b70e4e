/**
 * Docker's own image store behind crimux's ImageStore (what the CRI ImageService routes to for docker handlers).
 *
 * Pull honours `images.registries` as a replacement, never a fallback: for a replaced host Docker pulls from each
 * endpoint in turn (same repository path) and the result is tagged with the requested name; the real host is never
 * contacted. Docker itself decides http vs https: loopback registries are insecure by default, others need
 * dockerd's `insecure-registries`.
 */
import type { CallContext } from '../backend';
import type { FsInfo, ImageStatusResult, ImageStore, PullRequest } from '../../images/types';
import type * as cri from '../../cri/types';
import { RegistryHosts } from '../../images/hosts';
import { formatReference, isSha256Digest, parseReference, type ImageReference } from '../../images/reference';
import { CrimuxError, InvalidArgumentError, NotFoundError } from '../../errors';
import type { RegistryHostConfig } from '../../config/types';
import type { DockerEngine } from './engine-client';
import type { ImageInspect, RegistryAuth } from './engine-types';
import { MirrorMap, criNames, digestTag, endpointReference, imageUser } from './image-names';
import { measurePull } from '../../images/pull-metrics';
import type { Metrics } from '../../metrics/metrics';
import type { BackendClock } from '../host';

/** A short image ID or ID prefix ("b1acc35a", "sha256:b1acc35a…"): Docker resolves these itself. */
const ID_PREFIX = /^(sha256:)?[0-9a-f]{12,64}$/;

export class DockerImageStore implements ImageStore {
  readonly name = 'docker';
  private readonly mirrors: MirrorMap;
  private readonly hosts: RegistryHosts;
  /** Image config users by image ID: content-addressed, so a cached entry can never be stale. */
  private readonly users = new Map<string, string>();

  private readonly pinned: string;

  /**
   * `sandboxImage` is reported pinned, as containerd does, so the kubelet's image GC never removes it.
   * `importsFrom` is the store whose images docker pods can use too (transferred at create, image-transfer.ts):
   * the router reports them present for docker handlers.
   */
  constructor(
    private readonly engine: DockerEngine,
    registries: Readonly<Record<string, RegistryHostConfig>>,
    sandboxImage: string,
    private readonly clock: BackendClock,
    readonly importsFrom?: ImageStore,
    private readonly metrics?: Metrics,
  ) {
    this.mirrors = new MirrorMap(registries);
    this.hosts = new RegistryHosts(registries);
    this.pinned = formatReference(parseReference(sandboxImage));
  }

  pull(ctx: CallContext, req: PullRequest): Promise<string> {
    return measurePull(this.metrics, this.name, () => this.pullFromEndpoints(ctx, req));
  }

  private async pullFromEndpoints(ctx: CallContext, req: PullRequest): Promise<string> {
    const ref = parseReference(req.image);
    const requested = formatReference(ref);
    const endpoints = this.mirrors.endpointHosts(ref.domain);
    if (endpoints.length === 0 && this.mirrors.isReplaced(ref.domain)) {
      throw new InvalidArgumentError(
        `pull image ${requested}: no endpoint of images.registries.${ref.domain} is usable by Docker (endpoints with a path are not)`,
      );
    }
    const auth = await this.authFor(ref.domain, req.auth);
    if (endpoints.length === 0) {
      ctx.log.info('pull image', { image: requested, store: this.name });
      await this.pullOne(ctx, ref, auth(ref.domain));
      return (await this.engine.inspectImage(requested, ctx.signal)).Id;
    }
    let last: unknown;
    for (const host of endpoints) {
      const from = endpointReference(ref, host);
      ctx.log.info('pull image', { image: requested, from: formatReference(from), store: this.name });
      try {
        await this.pullOne(ctx, from, auth(host));
      } catch (err) {
        ctx.log.warn('pull image from endpoint failed', { image: requested, endpoint: host, error: err });
        last = err;
        continue;
      }
      // A digest cannot be a Docker tag: digest references are found through the endpoint name (see inspectRef), and
      // a hidden tag records the requested repository for the repo digest (image-names.ts).
      const tag = ref.tag ?? (ref.digest ? digestTag(ref.digest) : undefined);
      if (tag) await this.engine.tagImage(formatReference(from), `${ref.domain}/${ref.path}`, tag, ctx.signal);
      const id = (await this.engine.inspectImage(formatReference(from), ctx.signal)).Id;
      ctx.log.info('pulled image', { image: requested, id });
      return id;
    }
    throw last instanceof CrimuxError
      ? last
      : new NotFoundError(`pull image ${requested}: no endpoint has it`, { cause: last });
  }

  private pullOne(ctx: CallContext, ref: ImageReference, auth: RegistryAuth | undefined): Promise<void> {
    const repo = `${ref.domain}/${ref.path}`;
    return this.engine.pullImage(repo, ref.digest ?? ref.tag ?? 'latest', auth, ctx.signal);
  }

  /** Credentials are resolved once per pull, then addressed to whichever host Docker talks to. */
  private async authFor(domain: string, auth?: cri.AuthConfig): Promise<(server: string) => RegistryAuth | undefined> {
    const creds = await this.hosts.credentials(domain, auth);
    if (!creds) return () => undefined;
    return (server) => ({
      username: creds.username,
      password: creds.password,
      identitytoken: creds.identityToken,
      registrytoken: creds.registryToken,
      serveraddress: server,
    });
  }

  async list(ctx: CallContext): Promise<cri.Image[]> {
    const images = await this.engine.listImages(ctx.signal);
    const out: cri.Image[] = [];
    for (const img of images) {
      const user = await this.userOf(ctx, img.Id);
      if (user === undefined) continue; // removed while listing
      out.push(this.toCri(img, user));
    }
    return out;
  }

  async status(ctx: CallContext, ref: string, verbose: boolean): Promise<ImageStatusResult> {
    const img = await this.inspectRef(ctx, ref);
    if (!img) return { image: null, info: {} };
    const image = this.toCri(img, img.Config?.User ?? '');
    if (!verbose) return { image, info: {} };
    return { image, info: { info: JSON.stringify({ id: img.Id, repoTags: image.repo_tags, config: img.Config }) } };
  }

  async remove(ctx: CallContext, ref: string): Promise<void> {
    const img = await this.inspectRef(ctx, ref);
    if (!img) return; // CRI: removing an absent image succeeds
    ctx.log.info('remove image', { image: ref, id: img.Id, store: this.name });
    // By ID with force, like containerd's RemoveImage: every name of the image goes, not just the one given.
    try {
      await this.engine.removeImage(img.Id, ctx.signal);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    this.users.delete(img.Id);
    ctx.log.info('removed image', { image: ref, id: img.Id });
  }

  async fsInfo(ctx: CallContext): Promise<FsInfo> {
    const [info, df] = await Promise.all([this.engine.info(ctx.signal), this.engine.systemDf(ctx.signal)]);
    const usage: cri.FilesystemUsage = {
      timestamp: this.clock.nowNs().toString(),
      fs_id: { mountpoint: `${info.DockerRootDir}/${info.Driver}` },
      used_bytes: { value: String(df.LayersSize) },
    };
    // No separate container filesystem: the kubelet then treats image and container storage as one.
    return { imageFilesystems: [usage], containerFilesystems: [] };
  }

  /** The image a reference, ID or ID prefix names, or null; digest references are also tried at their endpoints. */
  async inspectRef(ctx: CallContext, ref: string): Promise<ImageInspect | null> {
    const candidates: string[] = [];
    if (ID_PREFIX.test(ref) || isSha256Digest(ref)) {
      candidates.push(ref);
    } else {
      const parsed = parseReference(ref);
      candidates.push(formatReference(parsed));
      for (const host of this.mirrors.endpointHosts(parsed.domain)) {
        candidates.push(formatReference(endpointReference(parsed, host)));
      }
    }
    for (const c of candidates) {
      try {
        const img = await this.engine.inspectImage(c, ctx.signal);
        this.users.set(img.Id, img.Config?.User ?? '');
        return img;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return null;
  }

  /** The digest reference the kubelet should see for an image (ContainerStatus.image_ref), else its ID. */
  imageRef(img: Pick<ImageInspect, 'Id' | 'RepoTags' | 'RepoDigests'>): string {
    return criNames(img.RepoTags, img.RepoDigests, this.mirrors).repoDigests[0] ?? img.Id;
  }

  private async userOf(ctx: CallContext, id: string): Promise<string | undefined> {
    const cached = this.users.get(id);
    if (cached !== undefined) return cached;
    try {
      const img = await this.engine.inspectImage(id, ctx.signal);
      this.users.set(id, img.Config?.User ?? '');
      return this.users.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  private toCri(img: Pick<ImageInspect, 'Id' | 'RepoTags' | 'RepoDigests' | 'Size'>, user: string): cri.Image {
    const names = criNames(img.RepoTags, img.RepoDigests, this.mirrors);
    const u = imageUser(user);
    return {
      id: img.Id,
      repo_tags: names.repoTags,
      repo_digests: names.repoDigests,
      size: String(img.Size),
      ...(u.uid !== undefined ? { uid: { value: u.uid } } : {}),
      username: u.username ?? '',
      spec: { image: img.Id },
      // The sandbox image may be configured by tag or by digest.
      pinned: names.repoTags.includes(this.pinned) || names.repoDigests.includes(this.pinned),
    };
  }
}
