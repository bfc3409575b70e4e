/**
 * The identity a docker container's process runs as (uid, primary gid, supplementary groups), resolved at create
 * by the rule every backend shares (processUser: CRI run_as_* over the image's USER, the image's /etc/passwd and
 * /etc/group, then the CRI's supplemental_groups, primary gid first), so ContainerStatus.user says what the runc,
 * vm and rkt backends would say for the same request.
 *
 * Where the image's files come from: the shared store's unpacked layers of the same image (by image ID), read
 * through passwd.ts's layersSource (no symlink followed out of a layer, FIFOs and devices refused without
 * blocking, size bounded). That is where the kubelet's pulls land and what image-transfer.ts loads into Docker,
 * so it is the normal case, and it costs no Docker call.
 * NOTE: Docker's GET /containers/{id}/archive is not used for images only Docker holds: the identity is recorded
 * in a label, labels are fixed at create, and the archive endpoint needs an existing container — it would take a
 * throwaway container per create (left behind by a crash in between) and a tar reader beside passwd.ts's safe
 * reads. Such containers get no identity label, and their status falls back to the numeric Config.User.
 */
import type { CallContext } from '../backend';
import type * as cri from '../../cri/types';
import { NotFoundError } from '../../errors';
import { processUser } from '../../host/container-policy';
import { layersSource } from '../../host/passwd';
import type { SnapshotStore } from '../../images/types';
import type { ContainerIdentity } from './records';

/** The shared store, as far as the docker backend may use it here: looking an image up, never mounting one. */
export type ImageLayers = Pick<SnapshotStore, 'resolve'>;

/**
 * The identity of a container created from Docker image `imageId`, or undefined when the shared store does not
 * hold that image. A user or group the image lacks is an InvalidArgumentError, as on the other backends.
 */
export async function containerIdentity(
  ctx: CallContext,
  store: ImageLayers | undefined,
  imageId: string,
  config: cri.ContainerConfig,
): Promise<ContainerIdentity | undefined> {
  if (!store) return undefined;
  let image;
  try {
    image = await store.resolve(ctx, imageId);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  // Only the very image Docker runs: a name or prefix match in the shared store could be another image.
  if (image.id !== imageId) return undefined;
  const user = await processUser(config.linux?.security_context ?? null, image.config, layersSource(image.layerDirs));
  return { uid: user.uid, gid: user.gid, groups: user.additionalGids };
}
