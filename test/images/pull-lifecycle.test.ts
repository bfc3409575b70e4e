/**
 * Pull life cycle against fake registries on loopback: zstd layers, credentials files (Bearer and Basic) and
 * registry tokens, callers that give up while others wait, the pull timeout, and start() cleaning up after a crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errorKind } from '../../src/errors';
import type { RegistriesConfig } from '../../src/images/hosts';
import { FakeRegistry, buildImage } from './fake-registry';
import { newStore, UNPACK_PATHS, type StoreHarness } from './harness';

// zstd layers need the zstd program (to build them here, and for crimux to unpack them).
const HAVE_ZSTD = spawnSync('zstd', ['--version']).status === 0;
const ZSTD = buildImage([{ 'z/file': 'zstd layer\n' }], '', false, HAVE_ZSTD ? 'zstd' : 'gzip');
const SLOW = buildImage([{ 'slow/file': 'slow\n' }]);
const PRIV = buildImage([{ 'priv/file': 'private\n' }]);
const CREDS = { username: 'bob', password: 'file-secret-456', token: 'file-token-789' };

let plain: FakeRegistry;
let slow: FakeRegistry;
let bearer: FakeRegistry;
let basic: FakeRegistry;
const harnesses: StoreHarness[] = [];

function harness(registries: RegistriesConfig, pullTimeoutSeconds?: number, unpackHelper?: string): StoreHarness {
  const h = newStore({
    registries,
    ...(pullTimeoutSeconds ? { pullTimeoutSeconds } : {}),
    ...(unpackHelper === undefined ? {} : { unpackHelper }),
  });
  harnesses.push(h);
  return h;
}

before(async () => {
  plain = await new FakeRegistry({ images: { 'z/img:1': ZSTD } }).start();
  slow = await new FakeRegistry({ images: { 'slow/img:1': SLOW }, blobDelayMs: 1500 }).start();
  bearer = await new FakeRegistry({ images: { 'priv/img:1': PRIV }, auth: CREDS }).start();
  basic = await new FakeRegistry({ images: { 'priv/img:1': PRIV }, auth: { ...CREDS, basic: true } }).start();
});

after(async () => {
  await Promise.allSettled(harnesses.map((h) => h.cleanup()));
  await Promise.allSettled([plain, slow, bearer, basic].map((r) => r?.stop()));
});

describe('pull life cycle (fake registries)', () => {
  for (const { where, unpackHelper } of UNPACK_PATHS)
    it(`unpacks zstd layers ${where}`, { skip: !HAVE_ZSTD && 'zstd is not installed' }, async () => {
      const h = harness({ 'z.example': { endpoints: [{ url: plain.url }] } }, undefined, unpackHelper);
      await h.store.start();
      await h.store.pull(h.ctx(), { image: 'z.example/z/img:1' });
      const r = await h.store.resolve(h.ctx(), 'z.example/z/img:1');
      assert.equal(readFileSync(path.join(r.layerDirs[0] ?? '', 'z/file'), 'utf8'), 'zstd layer\n');
    });

  it('uses the credentials file for Bearer and Basic registries, never logging it', async () => {
    const h = harness({});
    const dir = path.join(h.dir, 'creds');
    mkdirSync(dir, { recursive: true });
    const userPass = path.join(dir, 'bearer.json');
    const authForm = path.join(dir, 'basic.json');
    writeFileSync(userPass, JSON.stringify({ username: CREDS.username, password: CREDS.password }));
    writeFileSync(
      authForm,
      JSON.stringify({ auth: Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64') }),
    );
    const withFiles = harness({
      'bearer.example': { endpoints: [{ url: bearer.url }], credentialsFile: userPass },
      'basic.example': { endpoints: [{ url: basic.url }], credentialsFile: authForm },
    });
    await withFiles.store.start();
    assert.equal(
      await withFiles.store.pull(withFiles.ctx(), { image: 'bearer.example/priv/img:1' }),
      PRIV.configDigest,
    );
    assert.equal(await withFiles.store.pull(withFiles.ctx(), { image: 'basic.example/priv/img:1' }), PRIV.configDigest);
    assert.ok(basic.requests.some((r) => r.authorization?.startsWith('Basic ')));
    const logs = withFiles.lines.join('\n');
    assert.ok(!logs.includes(CREDS.password) && !logs.includes(CREDS.token));
  });

  it('sends a registry token from the request as is', async () => {
    const h = harness({ 'bearer.example': { endpoints: [{ url: bearer.url }] } });
    await h.store.start();
    const tokenCalls = bearer.requests.filter((r) => r.path === '/token').length;
    const auth = {
      username: '',
      password: '',
      auth: '',
      server_address: '',
      identity_token: '',
      registry_token: CREDS.token,
    };
    assert.equal(await h.store.pull(h.ctx(), { image: 'bearer.example/priv/img:1', auth }), PRIV.configDigest);
    assert.equal(bearer.requests.filter((r) => r.path === '/token').length, tokenCalls);
  });

  it('lets a caller give up while a joined caller still gets the image', async () => {
    const h = harness({ 'slow.example': { endpoints: [{ url: slow.url }] } });
    await h.store.start();
    const quitter = h.store.pull(h.ctx(200), { image: 'slow.example/slow/img:1' });
    const patient = h.store.pull(h.ctx(), { image: 'slow.example/slow/img:1' });
    await assert.rejects(quitter, (e: Error) => errorKind(e) === 'DeadlineExceeded');
    assert.equal(await patient, SLOW.configDigest);
    assert.equal(slow.blobGets(SLOW.layerDigests[0]), 1);
  });

  it('bounds a pull by pullTimeoutSeconds and stores nothing', async () => {
    const h = harness({ 'slow.example': { endpoints: [{ url: slow.url }] } }, 1);
    await h.store.start();
    await assert.rejects(h.store.pull(h.ctx(), { image: 'slow.example/slow/img:1' }), (e: Error) => {
      assert.equal(errorKind(e), 'DeadlineExceeded');
      assert.match(e.message, /timed out after 1s/);
      return true;
    });
    assert.deepEqual(h.list('layers'), []);
    assert.deepEqual(h.list('tmp'), []);
    assert.deepEqual(h.list('metadata/images'), []);
  });

  it('cleans up what a crash left behind at start, keeping every complete image', async () => {
    const h = harness({ 'z.example': { endpoints: [{ url: plain.url }] } });
    await h.store.start();
    await h.store.pull(h.ctx(), { image: 'z.example/z/img:1' });
    const layers = h.list('layers');
    const blobs = h.list('blobs/sha256');
    // What a crash mid-pull or mid-remove leaves: temp files, an unreferenced layer and blob, a half snapshot.
    writeFileSync(path.join(h.root, 'tmp', 'blob-deadbeef'), 'partial');
    mkdirSync(path.join(h.root, 'tmp', 'layer-deadbeef', 'etc'), { recursive: true });
    mkdirSync(path.join(h.root, 'layers', 'e'.repeat(64)));
    mkdirSync(path.join(h.root, 'layers', `${'f'.repeat(64)}.deleting`));
    writeFileSync(path.join(h.root, 'blobs', 'sha256', 'e'.repeat(64)), 'orphan');
    mkdirSync(path.join(h.root, 'snapshots', '.half-made-1234', 'rootfs'), { recursive: true });
    writeFileSync(path.join(h.root, 'metadata', 'images', '.x.json.1234.tmp'), '{');

    const again = newStore({ registries: {}, root: h.dir });
    await again.store.start();
    assert.deepEqual(again.list('tmp'), []);
    assert.deepEqual(again.list('layers'), layers);
    assert.deepEqual(again.list('blobs/sha256'), blobs);
    assert.deepEqual(again.list('snapshots'), []);
    assert.deepEqual(again.list('metadata/images').length, 1);
    assert.equal((await again.store.status(again.ctx(), 'z.example/z/img:1', false)).image?.id, ZSTD.configDigest);
  });
});
