/**
 * ImageService routing (KEP-4216): calls go to the image store of the backend serving the requested runtime
 * handler ("" = the default handler). Lists and fs info merge every distinct store once; the runc, vm and rkt
 * backends share one store, Docker keeps its own.
 */
import type { CallContext } from '../backends/backend';
import { InvalidArgumentError } from '../errors';
import type * as cri from '../cri/types';
import type { FsInfo, ImageStore } from '../images/types';
import type { RouterCore } from './core';

export class ImageRouter {
  constructor(private readonly core: RouterCore) {}

  /** The store for a runtime handler; InvalidArgument for an unknown or disabled handler. */
  storeFor(handler: string): ImageStore {
    const name = handler === '' ? this.core.table.defaultHandler : handler;
    const h = this.core.table.handlers.get(name);
    if (!h?.enabled) {
      const known = [...this.core.table.handlers.values()].filter((e) => e.enabled).map((e) => e.name);
      throw new InvalidArgumentError(`route image request: unknown or disabled runtime handler "${name}" (enabled: ${known.join(', ')})`);
    }
    return this.core.backend(h.backend).images;
  }

  /** Each distinct store once, with the handler its images are reported under. */
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

  async list(ctx: CallContext, filter: cri.ImageFilter | null): Promise<cri.Image[]> {
    const wanted = filter?.image?.image ?? '';
    const lists = await Promise.all(
      this.stores().map(async ({ store, handler }) => {
        if (wanted) {
          const st = await store.status(ctx, wanted, false);
          return st.image ? [withHandler(st.image, handler)] : [];
        }
        return (await store.list(ctx)).map((img) => withHandler(img, handler));
      }),
    );
    return lists.flat();
  }

  async fsInfo(ctx: CallContext): Promise<FsInfo> {
    const infos = await Promise.all(this.stores().map(({ store }) => store.fsInfo(ctx)));
    return {
      imageFilesystems: infos.flatMap((i) => i.imageFilesystems),
      containerFilesystems: infos.flatMap((i) => i.containerFilesystems),
    };
  }
}

function withHandler(img: cri.Image, handler: string): cri.Image {
  const spec = img.spec ?? { image: img.id ?? '' };
  return { ...img, spec: { ...spec, runtime_handler: handler } };
}
