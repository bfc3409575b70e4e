/**
 * Pulls against a tiny fake registry on loopback: verification failures store nothing, Bearer-token auth works
 * and never leaks the password, identical concurrent pulls download once, unreachable hosts and unknown tags give
 * clear errors naming the host, and configured endpoints replace the host (the next endpoint, never the host).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../../src/errors';
import { FakeRegistry, buildImage, type FakeImage } from './fake-registry';
import { newStore, UNPACK_PATHS, type StoreHarness } from './harness';
import type { RegistriesConfig } from '../../src/images/hosts';

const GOOD = buildImage([{ 'etc/hello': 'hello\n' }, { 'etc/two': 'two\n' }], '1000');
const BAD = buildImage([{ 'bad/file': 'original\n' }]);
const WRONG = buildImage([{ 'wrong/file': 'original\n' }]);
const LIAR = buildImage([{ 'liar/file': 'content\n' }], '', true);
const TRUNC = buildImage([{ 'trunc/file': 'x'.repeat(200_000) + Math.random() }]);
const PASSWORD = 'pa55-w0rd-never-logged';
const TOKEN = 'tok-never-logged-either';

let open: FakeRegistry;
let authed: FakeRegistry;
const harnesses: StoreHarness[] = [];

function harness(registries: RegistriesConfig, unpackHelper?: string): StoreHarness {
  const h = newStore({ registries, ...(unpackHelper === undefined ? {} : { unpackHelper }) });
  harnesses.push(h);
  return h;
}

function assertNothingStored(h: StoreHarness, img: FakeImage): void {
  const blobs = h.list('blobs/sha256');
  for (const d of [...img.layerDigests, img.manifestDigest]) assert.ok(!blobs.includes(d.slice(7)), `blob ${d} stored`);
  assert.deepEqual(h.list('layers'), []);
  assert.deepEqual(h.list('tmp'), []);
  assert.deepEqual(h.list('metadata/images'), []);
}

before(async () => {
  const badLayer = BAD.layerDigests[0] as string;
  const corrupt = new Map([
    // Garbage of the right size, and a valid gzip layer of other content.
    [badLayer, Buffer.alloc(BAD.blobs.get(badLayer)?.length ?? 1, 7)],
    [WRONG.layerDigests[0] as string, [...buildImage([{ 'wrong/file': 'other!!!\n' }]).blobs.values()][0] as Buffer],
  ]);
  open = await new FakeRegistry({
    images: { 'lib/good:1': GOOD, 'lib/bad:1': BAD, 'lib/wrong:1': WRONG, 'lib/liar:1': LIAR, 'lib/trunc:1': TRUNC },
    corrupt,
    truncate: new Set([TRUNC.layerDigests[0] as string]),
    blobDelayMs: 150,
  }).start();
  authed = await new FakeRegistry({
    images: { 'private/app:1': GOOD },
    auth: { username: 'alice', password: PASSWORD, token: TOKEN },
  }).start();
});

after(async () => {
  await Promise.allSettled(harnesses.map((h) => h.cleanup()));
  await Promise.allSettled([open?.stop(), authed?.stop()]);
});

describe('pull faults and auth (fake registry)', () => {
  it('pulls by usual name through the host mapping, path = reference without host', async () => {
    const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } });
    await h.store.start();
    const id = await h.store.pull(h.ctx(), { image: 'example.com/lib/good:1' });
    assert.equal(id, GOOD.configDigest);
    assert.ok(open.requests.some((r) => r.path === '/v2/lib/good/manifests/1'));
    const [img] = await h.store.list(h.ctx());
    assert.deepEqual(img?.repo_tags, ['example.com/lib/good:1']);
    assert.deepEqual(img?.repo_digests, [`example.com/lib/good@${GOOD.manifestDigest}`]);
    assert.deepEqual(img?.uid, { value: '1000' });
  });

  for (const { where, unpackHelper } of UNPACK_PATHS)
    for (const [name, img, why] of [
      ['bad', BAD, /not valid gzip/],
      ['wrong', WRONG, /failed verification/],
      ['liar', LIAR, /has diff ID .* the image config says/],
    ] as const) {
      it(`stores nothing when a layer fails verification (${name}, unpacking ${where})`, async () => {
        const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } }, unpackHelper);
        await h.store.start();
        const ref = `example.com/lib/${name}:1`;
        await assert.rejects(h.store.pull(h.ctx(), { image: ref }), (err: Error) => {
          assert.equal(errorKind(err), 'InvalidArgument');
          assert.ok(err.message.includes(ref), err.message);
          assert.match(err.message, why);
          return true;
        });
        assertNothingStored(h, img);
        assert.equal((await h.store.status(h.ctx(), ref, false)).image, null);
      });
    }

  for (const { where, unpackHelper } of UNPACK_PATHS)
    it(`stores nothing when the connection breaks mid-blob (Unavailable naming the host; unpacking ${where})`, async () => {
      const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } }, unpackHelper);
      await h.store.start();
      await assert.rejects(h.store.pull(h.ctx(), { image: 'example.com/lib/trunc:1' }), (err: Error) => {
        assert.equal(errorKind(err), 'Unavailable');
        assert.ok(err.message.includes(`127.0.0.1:${open.port}`), err.message);
        return true;
      });
      assertNothingStored(h, TRUNC);
    });

  it('reports an unknown tag as NotFound with host and status', async () => {
    const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } });
    await h.store.start();
    await assert.rejects(h.store.pull(h.ctx(), { image: 'example.com/lib/good:nope' }), (err: Error) => {
      assert.equal(errorKind(err), 'NotFound');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${open.port}.*404`));
      return true;
    });
  });

  it('reports an unreachable endpoint as Unavailable naming it, and never contacts the real host', async () => {
    const h = harness({ 'registry.example': { endpoints: [{ url: 'http://127.0.0.1:9' }] } });
    await h.store.start();
    await assert.rejects(h.store.pull(h.ctx(), { image: 'registry.example/a:1' }), (err: Error) => {
      assert.equal(errorKind(err), 'Unavailable');
      assert.match(err.message, /127\.0\.0\.1:9/);
      assert.match(err.message, /ECONNREFUSED/);
      assert.doesNotMatch(err.message, /https:\/\/registry\.example/);
      return true;
    });
  });

  it('tries the next endpoint when one is unreachable', async () => {
    const h = harness({ 'example.com': { endpoints: [{ url: 'http://127.0.0.1:9' }, { url: open.url }] } });
    await h.store.start();
    assert.equal(await h.store.pull(h.ctx(), { image: 'example.com/lib/good:1' }), GOOD.configDigest);
  });

  it('moves a tag to the newly pulled image; the old one stays listed by digest', async () => {
    const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } });
    await h.store.start();
    const images = open.images;
    await h.store.pull(h.ctx(), { image: 'example.com/lib/good:1' });
    const next = buildImage([{ 'etc/hello': 'hello again\n' }]);
    images['lib/good:1'] = next;
    try {
      assert.equal(await h.store.pull(h.ctx(), { image: 'example.com/lib/good:1' }), next.configDigest);
    } finally {
      images['lib/good:1'] = GOOD;
    }
    const old = (await h.store.status(h.ctx(), GOOD.configDigest, false)).image;
    assert.deepEqual(old?.repo_tags, []);
    assert.deepEqual(old?.repo_digests, [`example.com/lib/good@${GOOD.manifestDigest}`]);
    assert.equal((await h.store.status(h.ctx(), 'example.com/lib/good:1', false)).image?.id, next.configDigest);
  });

  it('downloads once for identical concurrent pulls', async () => {
    const h = harness({ 'example.com': { endpoints: [{ url: open.url }] } });
    await h.store.start();
    const before = open.blobGets(GOOD.layerDigests[0]);
    const ids = await Promise.all([1, 2, 3, 4].map(() => h.store.pull(h.ctx(), { image: 'example.com/lib/good:1' })));
    assert.deepEqual(new Set(ids), new Set([GOOD.configDigest]));
    assert.equal(open.blobGets(GOOD.layerDigests[0]) - before, 1);
    assert.ok(h.lines.some((l) => l.includes('joining pull in progress')));
  });

  it('answers a Bearer challenge with basic credentials from the request, never logging them', async () => {
    const h = harness({ 'private.example': { endpoints: [{ url: authed.url }] } });
    await h.store.start();
    const id = await h.store.pull(h.ctx(), {
      image: 'private.example/private/app:1',
      auth: {
        username: 'alice',
        password: PASSWORD,
        auth: '',
        server_address: '',
        identity_token: '',
        registry_token: '',
      },
    });
    assert.equal(id, GOOD.configDigest);
    assert.ok(authed.requests.some((r) => r.path === '/token'));
    assert.ok(
      authed.requests.filter((r) => r.path.includes('/blobs/')).every((r) => r.authorization === `Bearer ${TOKEN}`),
    );
    const all = h.lines.join('\n');
    assert.ok(all.includes('pulled image'));
    for (const secret of [PASSWORD, TOKEN, Buffer.from(`alice:${PASSWORD}`).toString('base64')]) {
      assert.ok(!all.includes(secret), 'a secret reached the log');
    }
  });

  it('refuses with PermissionDenied (host and status) for a wrong password, without echoing it', async () => {
    const h = harness({ 'private.example': { endpoints: [{ url: authed.url }] } });
    await h.store.start();
    const wrong = 'wrong-secret-123';
    await assert.rejects(
      h.store.pull(h.ctx(), {
        image: 'private.example/private/app:1',
        auth: {
          username: 'alice',
          password: wrong,
          auth: '',
          server_address: '',
          identity_token: '',
          registry_token: '',
        },
      }),
      (err: Error) => {
        assert.equal(errorKind(err), 'PermissionDenied');
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${authed.port}.*401`));
        assert.ok(!err.message.includes(wrong));
        return true;
      },
    );
    await assert.rejects(h.store.pull(h.ctx(), { image: 'private.example/private/app:1' }), (err: Error) => {
      assert.equal(errorKind(err), 'PermissionDenied');
      return true;
    });
    assert.ok(!h.lines.join('\n').includes(wrong));
  });
});
