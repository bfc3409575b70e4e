/**
 * ImageService routing (KEP-4216): calls go to the image store of the backend serving the requested runtime
 * handler ("" = the default handler). The runc, vm and rkt backends share one store, Docker keeps its own and takes
 * images of the shared store in on demand (its store's `importsFrom`), so for a docker handler an image of either
 * store is present. Lists and fs info merge every distinct store into one view (image-merge.ts); RemoveImage
 * without a handler removes the image from every store, so the kubelet's image GC (which sends none) frees both.
 */
import type { Backend, CallContext } from '../backends/backend';
import { errorMessage, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import type * as cri from '../cri/types';
import type { FsInfo, ImageStatusResult, ImageStore } from '../images/types';
import type { RouterCore } from './core';
import { mergeFilesystems, mergeImages } from './image-merge';

/** A store that can use another store's images as its own (Docker's, through a transfer at create time). */
interface ImportingStore extends ImageStore {
  readonly importsFrom?: ImageStore;
}

/**
 * ListImages and non-verbose ImageStatus answered from memory (issue #21): the kubelet asks ImageStatus for every
 * container it starts and lists images for its image GC. Results are kept for one list refresh interval (1 s),
 * and dropped at once by a pull or remove through crimux, so the kubelet's ImageStatus → PullImage →
 * ImageStatus sequence always sees its own pull. Changes made outside crimux (docker pull on the host, the
 * shared store's GC) show within the interval.
 */
const IMAGE_KEEP_MS = 1000;

export class ImageRouter {
  private readonly kept = new Map<string, { at: number; gen: number; value: Promise<unknown> }>();
  private gen = 0;

  constructor(private readonly core: RouterCore) {}

  /** An image was pulled or removed: forget every kept answer. */
  changed(): void {
    this.gen++;
    this.kept.clear();
  }

  private keep<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    if (!this.core.settings.keepLists) return fetch();
    const now = Date.now();
    const k = this.kept.get(key);
    if (k && k.gen === this.gen && now - k.at < IMAGE_KEEP_MS) return k.value as Promise<T>;
    const gen = this.gen;
    const value = fetch();
    this.kept.set(key, { at: now, gen, value });
    value.catch(() => {
      if (this.kept.get(key)?.value === value) this.kept.delete(key);
    });
    return value;
  }

  /** The store for a runtime handler; InvalidArgument for an unknown or disabled handler. */
  storeFor(handler: string): ImageStore {
    const name = handler === '' ? this.core.table.defaultHandler : handler;
    const h = this.core.table.handlers.get(name);
    if (!h?.enabled) {
      const known = [...this.core.table.handlers.values()].filter((e) => e.enabled).map((e) => e.name);
      throw new InvalidArgumentError(
        `route image request: unknown or disabled runtime handler "${name}" (enabled: ${known.join(', ')})`,
      );
    }
    return this.core.backend(h.backend).images;
  }

  /** Each distinct store once, the default handler's first, with the handler its images are reported under. */
  stores(): { store: ImageStore; handler: string }[] {
    const out = new Map<ImageStore, string>();
    const order = [this.core.table.defaultHandler, ...this.core.table.handlers.keys()];
    for (const name of order) {
      const h = this.core.table.handlers.get(name);
      if (!h?.enabled) continue;
      const store = this.core.backends.get(h.backend)?.images;
      if (store && !out.has(store)) out.set(store, name === this.core.table.defaultHandler ? '' : name);
    }
    return [...out].map(([store, handler]) => ({ store, handler }));
  }

  /**
   * The handler's store, then the store it imports from. With no handler that is the default handler's view:
   * an image only Docker holds is not reported to a kubelet that would run it on the shared store's backends, so
   * the kubelet pulls it (into the shared store) instead of failing at create.
   */
  async status(ctx: CallContext, handler: string, ref: string, verbose: boolean): Promise<ImageStatusResult> {
    if (!verbose) return this.keep(`status\0${handler}\0${ref}`, () => this.statusNow(ctx, handler, ref, false));
    return this.statusNow(ctx, handler, ref, verbose);
  }

  private async statusNow(
    ctx: CallContext,
    handler: string,
    ref: string,
    verbose: boolean,
  ): Promise<ImageStatusResult> {
    const own = this.storeFor(handler) as ImportingStore;
    const res = await own.status(ctx, ref, verbose);
    if (res.image || !own.importsFrom) return res;
    return own.importsFrom.status(ctx, ref, verbose);
  }

  /**
   * From the handler's view, i.e. its store and the store it imports from (status() reports both, and an image
   * still reported after RemoveImage would make the kubelet believe the removal failed); with no handler from
   * every store (what the kubelet's image GC sends).
   */
  async remove(ctx: CallContext, handler: string, ref: string): Promise<void> {
    try {
      await this.removeNow(ctx, handler, ref);
    } finally {
      this.changed();
    }
  }

  private async removeNow(ctx: CallContext, handler: string, ref: string): Promise<void> {
    let stores: ImageStore[];
    if (handler !== '') {
      const own = this.storeFor(handler) as ImportingStore;
      stores = own.importsFrom ? [own, own.importsFrom] : [own];
    } else {
      stores = this.stores().map(({ store }) => store);
    }
    const results = await Promise.allSettled(stores.map((store) => store.remove(ctx, ref)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async list(ctx: CallContext, filter: cri.ImageFilter | null): Promise<cri.Image[]> {
    const wanted = filter?.image?.image ?? '';
    return this.keep(`list\0${wanted}`, () => this.listNow(ctx, wanted));
  }

  private async listNow(ctx: CallContext, wanted: string): Promise<cri.Image[]> {
    const lists = await this.fromEachStore(ctx, 'list images', async (store) => {
      if (!wanted) return store.list(ctx);
      const st = await store.status(ctx, wanted, false);
      return st.image ? [st.image] : [];
    });
    return mergeImages(lists.map(({ value, handler }) => ({ images: value, handler })));
  }

  async fsInfo(ctx: CallContext): Promise<FsInfo> {
    const infos = (await this.fromEachStore(ctx, 'image fs info', (store) => store.fsInfo(ctx))).map((r) => r.value);
    return {
      imageFilesystems: await mergeFilesystems(infos.flatMap((i) => i.imageFilesystems)),
      containerFilesystems: infos.flatMap((i) => i.containerFilesystems),
    };
  }

  /**
   * One call per store; a store that fails (dockerd down) is left out and logged, so the others still answer.
   * Only when every store fails does the call fail.
   */
  private async fromEachStore<T>(
    ctx: CallContext,
    what: string,
    fn: (store: ImageStore) => Promise<T>,
  ): Promise<{ value: T; handler: string }[]> {
    const stores = this.stores();
    const results = await Promise.allSettled(stores.map(({ store }) => fn(store)));
    const out: { value: T; handler: string }[] = [];
    let firstError: unknown;
    results.forEach((r, i) => {
      const s = stores[i] as { store: ImageStore; handler: string };
      if (r.status === 'fulfilled') out.push({ value: r.value, handler: s.handler });
      else {
        firstError ??= r.reason;
        ctx.log.warn(`${what}: a store failed, answering without it`, {
          store: s.store.name,
          error: errorMessage(r.reason),
        });
      }
    });
    if (out.length === 0 && firstError !== undefined) throw firstError;
    return out;
  }
}

/**
 * Why a create failed, when it failed because the pod's backend cannot see its image: images flow from the
 * shared store into Docker on demand, never back, so an image only Docker holds is a FailedPrecondition for a
 * runc/vm/rkt pod, naming where to pull it. Any other error is returned unchanged.
 */
export async function explainMissingImage(
  core: RouterCore,
  ctx: CallContext,
  backend: Backend,
  ref: string,
  err: unknown,
): Promise<unknown> {
  if (!(err instanceof NotFoundError) || !ref) return err;
  try {
    const own = backend.images as ImportingStore;
    if ((await own.status(ctx, ref, false)).image || (await own.importsFrom?.status(ctx, ref, false))?.image)
      return err;
    for (const { store } of new ImageRouter(core).stores()) {
      if (store === own || !(await store.status(ctx, ref, false)).image) continue;
      const handlers = [...core.table.handlers.values()].filter((h) => h.enabled && h.backend === backend.name);
      const isDefault = handlers.some((h) => h.name === core.table.defaultHandler);
      const how = handlers[0]
        ? `PullImage with runtime_handler "${handlers[0].name}"${isDefault ? ' or none' : ''}`
        : 'PullImage';
      return new FailedPreconditionError(
        `create container: image "${ref}" is only in ${storeLabel(store)}, which ${backend.name} pods cannot use; pull it into ${storeLabel(own)} first (${how})`,
        { cause: err, context: { image: ref } },
      );
    }
  } catch {
    // The explanation is best effort: a store that cannot answer leaves the original error.
  }
  return err;
}

/** How an error message names a store: the shared OCI store by its role, others (Docker's) by name. */
function storeLabel(store: ImageStore): string {
  return store.name === 'oci' ? 'the shared image store' : `${store.name}'s image store`;
}
