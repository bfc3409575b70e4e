/**
 * The CRI ImageService of real-rkt mode, over rkt's own image store (rktlet image/imagestore.go): pull is
 * `rkt image fetch --pull-policy=update --full=true docker://…`, list is `rkt image list`, remove is `rkt image
 * rm`. rkt's store stays separate from crimux's shared OCI store (docker2aci converted images on fetch).
 * NOTE: untested against a real rkt (none exists here); modern registries serving OCI indexes may defeat
 * docker2aci. ImageFsInfo is UNIMPLEMENTED, as in rktlet.
 */
import { UnimplementedError } from '../../../errors';
import type { CallContext } from '../../backend';
import type * as cri from '../../../cri/types';
import type { FsInfo, ImageStatusResult, ImageStore, PullRequest } from '../../../images/types';
import type { ImageListEntry } from '../api';
import type { PodManager } from '../pod-manager';

function toImage(e: ImageListEntry): cri.Image {
  return { id: e.id, repo_tags: e.name ? [e.name] : [], repo_digests: [], size: String(e.size), pinned: false };
}

export class RktImageStore implements ImageStore {
  readonly name = 'rkt';
  constructor(private readonly pm: () => PodManager) {}

  pull(ctx: CallContext, req: PullRequest): Promise<string> {
    return this.pm().imageFetch(req.image, ctx.signal);
  }

  async list(ctx: CallContext): Promise<cri.Image[]> {
    return (await this.pm().imageList(ctx.signal)).map(toImage);
  }

  async status(ctx: CallContext, ref: string): Promise<ImageStatusResult> {
    const all = await this.pm().imageList(ctx.signal);
    const hit = all.find((e) => e.id === ref || e.id.startsWith(ref) || e.name === ref);
    return { image: hit ? toImage(hit) : null, info: {} };
  }

  async remove(ctx: CallContext, ref: string): Promise<void> {
    const st = await this.status(ctx, ref);
    if (st.image?.id) await this.pm().imageRm(st.image.id, ctx.signal);
  }

  fsInfo(): Promise<FsInfo> {
    throw new UnimplementedError('image fs info: not reported by a real rkt');
  }
}
