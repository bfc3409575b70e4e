/**
 * ImageService handlers: routed by runtime handler (ImageSpec.runtime_handler, else the sandbox config's
 * handler annotation-free default) to a store; lists and fs info merge every store.
 */
import type { ImageServiceHandlers } from './generated/runtime/v1/ImageService';
import type { Router } from '../router/router';
import { InvalidArgumentError } from '../errors';
import { serverStream, unary, type RpcEnv } from './instrument';
import { pages } from './paging';

export function imageService(env: RpcEnv, router: Router): ImageServiceHandlers {
  const images = router.images;
  const imageRef = (spec: { image: string } | null, rpc: string): string => {
    if (!spec?.image) throw new InvalidArgumentError(`${rpc}: image.image must not be empty`);
    return spec.image;
  };

  return {
    PullImage: unary(env, 'PullImage', async (req, ctx) => {
      const image = imageRef(req.image, 'pull image');
      // KEP-4216: the image's own handler wins, then the pod's RuntimeClass handler is not in the sandbox
      // config, so an empty handler means the default handler's store.
      const store = images.storeFor(req.image?.runtime_handler ?? '');
      try {
        const ref = await store.pull(ctx, { image, ...(req.auth ? { auth: req.auth } : {}) });
        return { image_ref: ref };
      } finally {
        images.changed(); // kept ImageStatus/ListImages answers predate the pull
      }
    }),
    ListImages: unary(env, 'ListImages', async (req, ctx) => ({ images: await images.list(ctx, req.filter) })),
    StreamImages: serverStream(env, 'StreamImages', async (req, ctx, write) => {
      for (const page of pages(await images.list(ctx, req.filter))) await write({ images: page });
    }),
    ImageStatus: unary(env, 'ImageStatus', async (req, ctx) => {
      const image = imageRef(req.image, 'image status');
      const res = await images.status(ctx, req.image?.runtime_handler ?? '', image, req.verbose);
      return { image: res.image, info: req.verbose ? res.info : {} };
    }),
    RemoveImage: unary(env, 'RemoveImage', async (req, ctx) => {
      const image = imageRef(req.image, 'remove image');
      await images.remove(ctx, req.image?.runtime_handler ?? '', image);
      return {};
    }),
    ImageFsInfo: unary(env, 'ImageFsInfo', async (_req, ctx) => {
      const fs = await images.fsInfo(ctx);
      return { image_filesystems: fs.imageFilesystems, container_filesystems: fs.containerFilesystems };
    }),
  };
}
