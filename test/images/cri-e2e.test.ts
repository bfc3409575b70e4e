/**
 * The image service end to end over crimux's CRI socket (the calls `crictl pull/images/inspecti/rmi/imagefsinfo`
 * make), with a real daemon whose registry hosts map to the local test registry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_USER, LAYERS, PAUSE } from '../fixtures/images';
import { grpc, rejectsWithCode } from '../helpers/cri-client';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';

const PULL = { deadlineMs: 120_000 };

describe('ImageService over CRI', { timeout: 300_000 }, () => {
  let d: DaemonHandle;

  before(async () => {
    await ensureTestRegistry();
    // Only the image service is exercised: the runc backend is enabled so its handler routes image calls to the
    // shared store, with an empty CNI dir because no pod is run.
    d = await startDaemon({ config: { backends: { runc: { enabled: true } }, network: { confDir: '/nonexistent' } } });
  });

  after(async () => {
    await d?.cleanup();
  });

  it('pulls by usual name and returns the image ID (crictl pull)', async () => {
    const res = await d.img('PullImage', { image: { image: 'crimux/layers:1' } }, PULL);
    assert.match(res.image_ref, /^sha256:[0-9a-f]{64}$/);
    await d.img('PullImage', { image: { image: BUSYBOX_USER.ref } }, PULL);
    await d.img('PullImage', { image: { image: PAUSE.ref } }, PULL);
  });

  it('lists with tags, digests, size and user (crictl images)', async () => {
    const { images } = await d.img('ListImages', {});
    const layers = images.find((i) => i.repo_tags.includes(LAYERS.ref));
    assert.ok(layers);
    assert.match(layers.size, /^[1-9][0-9]*$/);
    assert.equal(layers.repo_digests.length, 1);
    const user = images.find((i) => i.repo_tags.includes(BUSYBOX_USER.ref));
    assert.equal(user?.username, 'www-data');
    const pause = images.find((i) => i.repo_tags.includes(PAUSE.ref));
    assert.equal(pause?.uid?.value, '65535');
  });

  // TODO(#3): src/daemon.ts must pass `sandboxImage: config.images.sandboxImage` to OciImageStore.
  it('pins the sandbox image', async () => {
    const { images } = await d.img('ListImages', {});
    assert.equal(images.find((i) => i.repo_tags.includes(PAUSE.ref))?.pinned, true);
  });

  it('answers verbose ImageStatus by tag, ID prefix and digest (crictl inspecti)', async () => {
    const st = await d.img('ImageStatus', { image: { image: LAYERS.ref }, verbose: true });
    const id = st.image?.id ?? '';
    const info = JSON.parse(st.info.info ?? '{}') as { imageSpec?: { rootfs?: { diff_ids?: string[] } } };
    assert.equal(info.imageSpec?.rootfs?.diff_ids?.length, LAYERS.layerCount);
    for (const q of [id.slice(7, 20), st.image?.repo_digests[0] ?? '']) {
      assert.equal((await d.img('ImageStatus', { image: { image: q }, verbose: false })).image?.id, id, q);
    }
    const missing = await d.img('ImageStatus', { image: { image: 'busybox:never' }, verbose: false });
    assert.equal(missing.image, null);
  });

  it('reports image and container filesystems (crictl imagefsinfo)', async () => {
    const fs = await d.img('ImageFsInfo', {});
    const used = fs.image_filesystems.map((f) => Number(f.used_bytes?.value ?? 0));
    assert.ok(
      used.some((b) => b > 1_000_000),
      JSON.stringify(fs.image_filesystems),
    );
    assert.ok(fs.container_filesystems.length >= 1);
  });

  it('removes idempotently (crictl rmi) and maps bad input to gRPC codes', async () => {
    await d.img('RemoveImage', { image: { image: LAYERS.ref } });
    await d.img('RemoveImage', { image: { image: LAYERS.ref } });
    assert.equal((await d.img('ImageStatus', { image: { image: LAYERS.ref }, verbose: false })).image, null);
    await rejectsWithCode(d.img('PullImage', { image: { image: 'Not/A Ref' } }, PULL), grpc.status.INVALID_ARGUMENT);
    await rejectsWithCode(d.img('PullImage', { image: { image: 'busybox:0-missing' } }, PULL), grpc.status.NOT_FOUND);
  });
});
