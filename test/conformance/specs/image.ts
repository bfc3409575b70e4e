/**
 * Image manager (cri-tools pkg/validate/image.go, idempotence.go) against the image store of the handler under
 * test (ImageSpec.runtime_handler, as the kubelet sends it with RuntimeClassInImageCriApi): pull by tag, without
 * a tag, by digest; status by every kind of reference (tag, digest, ID) is one and the same; the image's User as
 * uid / username / uid:group / username:group; lists with three images and with one image under three tags;
 * removing an unknown image succeeds. Handlers share stores (runc, runc-b, vm and rkt have one), so this file
 * runs the handlers one after another.
 */
import assert from 'node:assert/strict';
import { CRI_PREDEFINED_GROUP, CRI_TEST_IMAGES, CRI_USER_IMAGES } from '../../fixtures/images';
import { testRegistryPort } from '../../helpers/registry';
import { containerConfig, createContainer, execSync, podConfig, runPodSandbox, startContainer } from '../cri';
import type { Spec, SpecContext } from '../harness';

function spec(c: SpecContext, image: string) {
  return { image, runtime_handler: c.handler.name };
}

async function status(c: SpecContext, image: string) {
  return (await c.img('ImageStatus', { image: spec(c, image) })).image;
}

async function pull(c: SpecContext, image: string): Promise<string> {
  const r = await c.img(
    'PullImage',
    { image: spec(c, image), sandbox_config: { labels: {} } },
    { deadlineMs: 180_000 },
  );
  return r.image_ref;
}

type ImageStatus = NonNullable<Awaited<ReturnType<typeof status>>>;

/** Upstream's removeImage: by ID, when the reference resolves. */
async function remove(c: SpecContext, image: string): Promise<void> {
  const st = await status(c, image);
  if (st) await c.img('RemoveImage', { image: spec(c, st.id) });
}

/** Pull, check the status, remove, check it is gone (upstream's testPullPublicImage). */
async function pullAndRemove(c: SpecContext, image: string, check: (s: ImageStatus) => void) {
  await remove(c, image);
  c.defer(() => remove(c, image));
  await pull(c, image);
  const st = await status(c, image);
  assert.ok(st, `no status for ${image} after the pull`);
  assert.ok(st.id, 'image id');
  assert.ok(BigInt(st.size ?? 0) > 0n, 'image size');
  check(st);
  await remove(c, image);
  assert.equal(await status(c, image), null, 'the image is still there after RemoveImage');
}

/** The digest the local registry serves the reference's manifest under. */
async function registryDigest(local: string): Promise<string> {
  const [repo, tag] = local.split(':') as [string, string];
  const res = await fetch(`http://127.0.0.1:${testRegistryPort()}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
    signal: AbortSignal.timeout(5000),
  });
  const digest = res.headers.get('docker-content-digest');
  assert.ok(res.ok && digest, `no digest for ${local} from the local registry (${res.status})`);
  return digest;
}

export const IMAGE_SPECS: readonly Spec[] = [
  {
    id: 'image/pull-tag',
    title: 'public image with tag should be pulled and removed',
    async run(c) {
      const ref = CRI_TEST_IMAGES.withTag.ref;
      await pullAndRemove(c, ref, (s) => assert.deepEqual(s.repo_tags, [ref]));
    },
  },
  {
    id: 'image/pull-timeout',
    title: 'public image should timeout if requested',
    async run(c) {
      await assert.rejects(
        c.img('PullImage', { image: spec(c, CRI_TEST_IMAGES.withTag.ref) }, { deadlineMs: 1 }),
        (err: { code?: number }) => err.code === 4, // DEADLINE_EXCEEDED
      );
    },
  },
  {
    id: 'image/pull-without-tag',
    title: 'public image without tag should be pulled and removed',
    async run(c) {
      const ref = CRI_TEST_IMAGES.withoutTag.ref;
      await pullAndRemove(c, ref, (s) => assert.deepEqual(s.repo_tags, [`${ref}:latest`]));
    },
  },
  {
    id: 'image/pull-digest',
    title: 'public image with digest should be pulled and removed',
    async run(c) {
      const base = CRI_TEST_IMAGES.digest.ref.replace(/:latest$/, '');
      const ref = `${base}@${await registryDigest(CRI_TEST_IMAGES.digest.local)}`;
      await pullAndRemove(c, ref, (s) => {
        assert.deepEqual(s.repo_tags, []);
        assert.deepEqual(s.repo_digests, [ref]);
      });
    },
  },
  {
    id: 'image/status-all-references',
    title: 'image status should support all kinds of references',
    async run(c) {
      const ref = CRI_TEST_IMAGES.allReferences.ref;
      await remove(c, ref);
      c.defer(() => remove(c, ref));
      await pull(c, ref);
      const st = await status(c, ref);
      assert.ok(st, 'status by tag');
      assert.deepEqual(await status(c, st.id), st, `status by id ${st.id}`);
      for (const tag of st.repo_tags) assert.deepEqual(await status(c, tag), st, `status by ${tag}`);
      for (const digest of st.repo_digests) assert.deepEqual(await status(c, digest), st, `status by ${digest}`);
      await remove(c, ref);
      assert.equal(await status(c, ref), null);
    },
  },
  {
    id: 'image/user',
    title: 'image status get image fields should not have Uid|Username empty',
    async run(c) {
      for (const img of Object.values(CRI_USER_IMAGES)) {
        c.defer(() => remove(c, img.ref));
        await pull(c, img.ref);
        const st = await status(c, img.ref);
        assert.ok(st, img.ref);
        assert.equal(Number(st.uid?.value ?? 0), img.uid, `${img.user}: uid`);
        assert.equal(st.username, img.username, `${img.user}: username`);
      }
    },
  },
  {
    id: 'image/predefined-group',
    title: "runtime should run the image's user with the groups the image's /etc/group defines",
    async run(c) {
      const pod = podConfig(c, 'create-PodSandbox-for-predefined-group-');
      const podId = await runPodSandbox(c, pod);
      c.defer(() => remove(c, CRI_PREDEFINED_GROUP.ref));
      const id = await createContainer(
        c,
        podId,
        pod,
        containerConfig(c, 'container-for-predefined-group-', { image: { image: CRI_PREDEFINED_GROUP.ref } }),
      );
      await startContainer(c, id);
      const r = await execSync(c, id, ['id', '-G']);
      const groups = r.stdout.toString().trim().split(/\s+/).map(Number);
      assert.equal((await execSync(c, id, ['id', '-u'])).stdout.toString().trim(), String(CRI_PREDEFINED_GROUP.uid));
      assert.ok(groups.includes(CRI_PREDEFINED_GROUP.gid), `groups ${JSON.stringify(groups)}`);
    },
  },
  {
    id: 'image/list-three-images',
    title: 'listImage should get exactly 3 image in the result list',
    async run(c) {
      const refs = CRI_TEST_IMAGES.differentImages.map((i) => i.ref);
      for (const ref of refs) await remove(c, ref);
      for (const ref of refs) c.defer(() => remove(c, ref));
      const ids: string[] = [];
      for (const ref of refs) ids.push(await pull(c, ref));
      assert.equal(new Set(ids).size, 3, `3 image ids: ${JSON.stringify(ids)}`);
      const images = (await c.img('ListImages', { filter: {} })).images;
      ids.forEach((id, i) => {
        const img = images.find((x) => x.id === id);
        assert.ok(img, `${refs[i]} (${id}) listed`);
        assert.deepEqual(img.repo_tags, [refs[i]]);
      });
    },
  },
  {
    id: 'image/list-three-tags',
    title: 'listImage should get exactly 3 repoTags in the result image',
    async run(c) {
      const refs = CRI_TEST_IMAGES.sameImage.map((i) => i.ref);
      for (const ref of refs) await remove(c, ref);
      for (const ref of refs) c.defer(() => remove(c, ref));
      const ids = new Set<string>();
      for (const ref of refs) ids.add(await pull(c, ref));
      assert.equal(ids.size, 1, `one image id: ${JSON.stringify([...ids])}`);
      const [id] = ids;
      const img = (await c.img('ListImages', { filter: {} })).images.find((x) => x.id === id);
      assert.ok(img, `${id} listed`);
      assert.deepEqual([...img.repo_tags].sort(), [...refs].sort());
    },
  },
  {
    id: 'idempotence/remove-image-not-found',
    title: 'RemoveImage should not return an error if not found',
    async run(c) {
      const fake = '0'.repeat(64);
      await c.img('RemoveImage', { image: spec(c, fake) });
      await c.img('RemoveImage', { image: spec(c, fake) });
    },
  },
];
