/**
 * The shared store against the real local registry (docker-registry on 127.0.0.1), images pulled by their usual
 * names through a host mapping: list, uid/username, pinned sandbox image, status by ID/prefix/tag/digest with
 * verbose info, remove (untag, idempotent, garbage collection), manifest list → the node's platform, restart persistence, fsInfo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX, BUSYBOX_USER, LAYERS, MULTIARCH, PAUSE } from '../fixtures/images';
import { localRegistries, newStore, type StoreHarness } from './harness';
import { errorKind } from '../../src/errors';
import { hostPlatform } from '../../src/images/platform';

let h: StoreHarness;
let port: number;

before(async () => {
  ({ port } = await ensureTestRegistry());
  h = newStore({ registries: localRegistries(port), sandboxImage: PAUSE.ref });
  await h.store.start();
});

after(async () => {
  await h?.cleanup();
});

describe('OciImageStore with the local registry', () => {
  const ids: Record<string, string> = {};

  it('pulls the test images by their usual names', async () => {
    for (const img of [PAUSE, BUSYBOX, BUSYBOX_USER, LAYERS, MULTIARCH]) {
      ids[img.ref] = await h.store.pull(h.ctx(), { image: img.ref });
      assert.match(ids[img.ref] ?? '', /^sha256:[0-9a-f]{64}$/);
    }
    // The short form normalises to the same image.
    assert.equal(await h.store.pull(h.ctx(), { image: 'busybox:1.36' }), ids[BUSYBOX.ref]);
    assert.ok(h.lines.some((l) => l.includes('msg="pulled layer"') && l.includes('rate=')));
    const pulls = await h.metrics.registry.getSingleMetricAsString('crimux_image_pulls_total');
    assert.match(pulls, /backend="oci",result="success"} [1-9]/);
    assert.match(await h.metrics.registry.getSingleMetricAsString('crimux_image_pull_bytes_total'), /} [1-9]/);
  });

  it('lists them with tags, digests, sizes, uid/username and pinned', async () => {
    const list = await h.store.list(h.ctx());
    const byTag = (ref: string) => list.find((i) => i.repo_tags?.includes(ref));
    for (const img of [PAUSE, BUSYBOX, BUSYBOX_USER, LAYERS, MULTIARCH]) {
      const e = byTag(img.ref);
      assert.ok(e, `${img.ref} listed`);
      assert.equal(e.id, ids[img.ref]);
      assert.match(String(e.size), /^[1-9][0-9]*$/);
      assert.equal(e.repo_digests?.length, 1);
      assert.ok(e.repo_digests?.[0]?.startsWith(img.ref.replace(/:[^:]+$/, '@sha256:')));
    }
    assert.deepEqual(byTag(PAUSE.ref)?.uid, { value: '65535' });
    assert.equal(byTag(PAUSE.ref)?.username, '');
    assert.equal(byTag(PAUSE.ref)?.pinned, true);
    assert.equal(byTag(BUSYBOX_USER.ref)?.username, 'www-data');
    assert.equal(byTag(BUSYBOX_USER.ref)?.uid, undefined);
    assert.equal(byTag(BUSYBOX.ref)?.username, '');
    assert.equal(byTag(BUSYBOX.ref)?.pinned, false);
  });

  it('finds an image by ID, unique ID prefix, tag and digest; unknown → null', async () => {
    const id = ids[LAYERS.ref] ?? '';
    const byTag = await h.store.status(h.ctx(), LAYERS.ref, true);
    const digestRef = byTag.image?.repo_digests?.[0] ?? '';
    for (const q of [id, id.slice(0, 19), id.slice(7, 19), LAYERS.ref, 'crimux/layers:1', digestRef]) {
      const st = await h.store.status(h.ctx(), q, false);
      assert.equal(st.image?.id, id, q);
      assert.deepEqual(st.info, {});
    }
    const info = JSON.parse(byTag.info.info ?? '{}') as {
      imageSpec: { rootfs: { diff_ids: string[] } };
      chainID: string;
    };
    assert.equal(info.imageSpec.rootfs.diff_ids.length, LAYERS.layerCount);
    assert.match(info.chainID, /^sha256:/);
    assert.equal((await h.store.status(h.ctx(), 'busybox:nope', false)).image, null);
    assert.equal((await h.store.status(h.ctx(), 'sha256:' + 'f'.repeat(64), false)).image, null);
  });

  it('resolves for container creation with config defaults and layer dirs lowest first', async () => {
    const r = await h.store.resolve(h.ctx(), BUSYBOX_USER.ref);
    assert.equal(r.id, ids[BUSYBOX_USER.ref]);
    assert.equal(r.ref, BUSYBOX_USER.ref);
    assert.match(r.digestRef ?? '', /^docker\.io\/library\/busybox@sha256:/);
    assert.equal(r.config.user, 'www-data');
    assert.equal(r.config.workingDir, '/home/www');
    assert.deepEqual(r.config.cmd, ['sh']);
    const layered = await h.store.resolve(h.ctx(), LAYERS.ref);
    assert.equal(layered.layerDirs.length, LAYERS.layerCount);
    assert.equal(layered.layerDirs[0], r.layerDirs[0], 'busybox layer shared and lowest');
    await assert.rejects(h.store.resolve(h.ctx(), 'busybox:nope'), (e: Error) => errorKind(e) === 'NotFound');
  });

  it("selects the node's platform from the manifest list", async () => {
    const r = await h.store.resolve(h.ctx(), MULTIARCH.ref);
    const top = r.layerDirs[r.layerDirs.length - 1] ?? '';
    const arch = hostPlatform().architecture as keyof typeof MULTIARCH.archFile;
    assert.equal(readFileSync(path.join(top, 'arch'), 'utf8'), MULTIARCH.archFile[arch]);
  });

  it('refuses malformed references with InvalidArgument and unknown tags with NotFound', async () => {
    await assert.rejects(h.store.pull(h.ctx(), { image: 'Bad Ref' }), (e: Error) => errorKind(e) === 'InvalidArgument');
    await assert.rejects(h.store.pull(h.ctx(), { image: 'docker.io/library/busybox:0.0-missing' }), (e: Error) => {
      assert.equal(errorKind(e), 'NotFound');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  });

  it('reports image and container filesystem usage', async () => {
    const fs = await h.store.fsInfo(h.ctx());
    const img = fs.imageFilesystems[0];
    assert.equal(img?.fs_id?.mountpoint, h.root);
    assert.ok(Number(img?.used_bytes?.value) > 1_000_000);
    assert.ok(Number(img?.inodes_used?.value) > 10);
    assert.match(String(img?.timestamp), /^[0-9]{19}$/);
    assert.equal(fs.containerFilesystems[0]?.fs_id?.mountpoint, path.join(h.root, 'snapshots'));
  });

  it('keeps records across a restart', async () => {
    const again = newStore({ registries: localRegistries(port), root: h.dir });
    await again.store.start();
    assert.equal((await again.store.status(again.ctx(), LAYERS.ref, false)).image?.id, ids[LAYERS.ref]);
    assert.equal((await again.store.list(again.ctx())).length, (await h.store.list(h.ctx())).length);
  });

  it('removes: one of several tags untags, the last name removes and collects content; idempotent', async () => {
    // The same manifest under a second name (the registry's own host, also mapped) gives the image two tags.
    const bb = (await h.store.status(h.ctx(), BUSYBOX.ref, false)).image;
    assert.ok(bb?.id);
    const second = `127.0.0.1:${port}/library/busybox:1.36`;
    assert.equal(await h.store.pull(h.ctx(), { image: second }), bb.id);
    assert.deepEqual((await h.store.status(h.ctx(), bb.id, false)).image?.repo_tags, [BUSYBOX.ref, second]);
    await h.store.remove(h.ctx(), second);
    const untagged = (await h.store.status(h.ctx(), bb.id, false)).image;
    assert.deepEqual(untagged?.repo_tags, [BUSYBOX.ref], 'untagged only');
    assert.equal(untagged?.repo_digests?.length, 2);
    const layersBefore = h.list('layers').length;
    await h.store.remove(h.ctx(), MULTIARCH.ref);
    assert.equal((await h.store.status(h.ctx(), MULTIARCH.ref, false)).image, null);
    assert.equal(h.list('layers').length, layersBefore - 1, 'only the arch layer goes; busybox is shared');
    await h.store.remove(h.ctx(), MULTIARCH.ref);
    await h.store.remove(h.ctx(), 'sha256:' + '0'.repeat(64));
    await h.store.remove(h.ctx(), 'never/pulled:1');

    await h.store.remove(h.ctx(), ids[LAYERS.ref] ?? '');
    assert.equal((await h.store.status(h.ctx(), LAYERS.ref, false)).image, null);
    assert.equal(h.list('layers').length, layersBefore - 4);
    // busybox (shared base layer) is untouched.
    assert.equal((await h.store.status(h.ctx(), BUSYBOX.ref, false)).image?.id, bb.id);
    const blobs = new Set(h.list('blobs/sha256'));
    for (const img of await h.store.list(h.ctx())) assert.ok(blobs.has(img.id?.slice(7) ?? ''), 'config kept');
  });

  it('removes by digest reference; a pull by digest carries no tag', async () => {
    const st = await h.store.status(h.ctx(), BUSYBOX_USER.ref, false);
    const digestRef = st.image?.repo_digests?.[0] ?? '';
    await h.store.remove(h.ctx(), digestRef);
    assert.equal((await h.store.status(h.ctx(), BUSYBOX_USER.ref, false)).image, null);
    assert.equal(await h.store.pull(h.ctx(), { image: digestRef }), st.image?.id);
    const byDigest = await h.store.status(h.ctx(), digestRef, false);
    assert.deepEqual(byDigest.image?.repo_tags, [], 'pulled by digest: no tag');
    assert.deepEqual(byDigest.image?.repo_digests, [digestRef]);
  });
});
