/**
 * One image view for docker pods: the kubelet pulls without a runtime handler (KEP-4216 is alpha and off), so
 * images land in the shared OCI store, and ImageStatus then tells it they are present. When a docker pod's
 * container needs such an image, it is transferred into Docker's store at create time (containerd's
 * unpack-for-the-snapshotter-that-needs-it, applied to Docker): the stored blobs are streamed to
 * `POST /images/load`, and the result is verified by image ID (the config digest, which Docker recomputes).
 *
 * Concurrency: one transfer per image ID at a time; concurrent creates of the same image join it. A transfer runs
 * on its own deadline (images.pullTimeoutSeconds), not the first caller's, so a kubelet retry after a timeout
 * joins the transfer still running instead of starting over.
 */
import type { CallContext } from '../backend';
import type { ExportedImage, ImageExporter } from '../../images/export';
import { formatReference, isSha256Digest, parseReference } from '../../images/reference';
import { SingleFlight } from '../../images/sync';
import { untilAbort } from '../../util/abort';
import { DeadlineExceededError, InternalError, NotFoundError } from '../../errors';
import type { Logger } from '../../log/logger';
import type { DockerEngine } from './engine-client';
import type { ImageInspect } from './engine-types';
import type { DockerImageStore } from './images';
import { imageArchive } from './image-archive';

/** The image a docker container is created from, and the reference the kubelet sees as its image_ref. */
export interface DockerImage {
  readonly inspect: ImageInspect;
  readonly imageRef: string;
}

export interface ImageTransferOptions {
  readonly engine: DockerEngine;
  readonly images: DockerImageStore;
  /** The shared store; undefined when it cannot export (then only Docker's own images are usable). */
  readonly source: ImageExporter | undefined;
  readonly timeoutMs: number;
  readonly log: Logger;
}

export class ImageTransfer {
  private readonly flights = new SingleFlight<ImageInspect>();

  constructor(private readonly o: ImageTransferOptions) {}

  /**
   * Docker's image for a container: Docker's own when it has `ref`, else the shared store's, transferred.
   * `names` are the references the kubelet used (ImageSpec.image, user_specified_image): the tags among them
   * are given to the image in Docker. NotFound when neither store has it.
   */
  async resolve(ctx: CallContext, ref: string, names: readonly string[]): Promise<DockerImage> {
    const own = await this.o.images.inspectRef(ctx, ref);
    const exported = !own || !own.RepoDigests?.length ? await this.o.source?.exportImage(ref) : undefined;
    // Docker drops repo digests on load, so the shared store's record names the digest the kubelet pulled.
    const digestRef = exported?.repoDigests[0];
    if (own)
      return { inspect: own, imageRef: own.RepoDigests?.length ? this.o.images.imageRef(own) : (digestRef ?? own.Id) };
    if (!exported) {
      throw new NotFoundError(
        `resolve image "${ref}": neither docker's store nor the shared store has it (pull it first)`,
        {
          context: { image: ref },
        },
      );
    }
    const tags = tagsOf(names);
    const inspect = await this.ensure(ctx, exported, tags);
    return { inspect, imageRef: digestRef ?? inspect.Id };
  }

  /** Joins (or starts) the transfer of `img`, then adds the caller's tags a joined transfer did not set. */
  private async ensure(ctx: CallContext, img: ExportedImage, tags: string[]): Promise<ImageInspect> {
    const flight = this.flights.run(img.id, () => this.transfer(img, tags, ctx.log));
    if (!flight.leader) ctx.log.info('joining image transfer into docker in progress', { id: img.id });
    const inspect = await untilAbort(ctx.signal, flight.promise).catch((err: unknown) => {
      if (!ctx.signal.aborted) throw err;
      throw new DeadlineExceededError(
        `transfer image ${img.id} into docker: the caller gave up (the transfer goes on for a retry)`,
        {
          cause: err,
        },
      );
    });
    const missing = tags.filter((t) => !hasTag(inspect, t));
    for (const t of missing) await this.tag(inspect.Id, t, ctx.signal);
    return missing.length ? this.o.engine.inspectImage(inspect.Id, ctx.signal) : inspect;
  }

  private async transfer(img: ExportedImage, tags: string[], log: Logger): Promise<ImageInspect> {
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    const present = await this.inspectById(img.id, signal);
    if (present) {
      // Loaded earlier (or pulled into Docker by ID): only names may be missing, and ensure() adds them.
      return present;
    }
    const bytes = img.layers.reduce((n, l) => n + l.descriptor.size, img.config.length + img.manifest.length);
    const started = process.hrtime.bigint();
    log.info('transfer image into docker', { id: img.id, tags, layers: img.layers.length, bytes });
    // Without a tag the loaded image would be dangling (and pruned by `docker image prune`): keep the store's names.
    const names = tags.length ? tags : tagsOf(img.repoTags);
    try {
      await this.o.engine.loadImage(imageArchive(img, names), signal);
    } catch (err) {
      if (signal.aborted) {
        throw new DeadlineExceededError(
          `transfer image ${img.id} into docker: timed out after ${this.o.timeoutMs / 1000}s`,
          { cause: err },
        );
      }
      throw err;
    }
    const loaded = await this.inspectById(img.id, signal);
    // Docker's classic store names an image by its config digest; the containerd-backed store by its manifest.
    if (!loaded || (loaded.Id !== img.id && loaded.Id !== img.manifestDigest)) {
      throw new InternalError(
        `transfer image ${img.id} into docker: after the load docker has ${loaded?.Id ?? 'no such image'}`,
        {
          context: { image: img.id },
        },
      );
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    log.info('transferred image into docker', { id: img.id, dockerId: loaded.Id, bytes, seconds: seconds.toFixed(3) });
    return loaded;
  }

  private async inspectById(id: string, signal: AbortSignal): Promise<ImageInspect | undefined> {
    try {
      return await this.o.engine.inspectImage(id, signal);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  private tag(id: string, ref: string, signal: AbortSignal): Promise<void> {
    const r = parseReference(ref);
    return this.o.engine.tagImage(id, `${r.domain}/${r.path}`, r.tag ?? 'latest', signal);
  }
}

/** The normalised name:tag references among `names` (IDs and digest references cannot be Docker tags). */
export function tagsOf(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    if (!n || isSha256Digest(n) || /^[0-9a-f]{12,64}$/.test(n)) continue;
    try {
      const r = parseReference(n);
      if (!r.digest) out.add(formatReference(r));
    } catch {
      // not a reference (an ID prefix, say): nothing to tag
    }
  }
  return [...out];
}

/** Whether Docker lists `ref` (normalised) among the image's tags; Docker shows Hub images by familiar name. */
function hasTag(img: ImageInspect, ref: string): boolean {
  return (img.RepoTags ?? []).some((t) => {
    try {
      return formatReference(parseReference(t)) === ref;
    } catch {
      return false;
    }
  });
}
