/**
 * The pull pipeline against the fake registry: layers fetched at most maxConcurrentDownloads at a time, a failed
 * layer stopping its stalled siblings within a second with nothing half-made left, memory bounded while a layer
 * far larger than the memory budget streams through, and a stored blob damaged behind crimux's back (blobs are not
 * fsynced) noticed and fetched again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { errorKind } from '../../src/errors';
import { FakeRegistry, buildImage } from './fake-registry';
import { newStore, UNPACK_PATHS, type StoreHarness } from './harness';
import { imageOfLayers, zeroLayer } from './layer-builders';

const MANY = buildImage(Array.from({ length: 6 }, (_, i) => ({ [`many/${i}`]: `layer ${i}\n` })));
const SIBLINGS = buildImage(
  Array.from({ length: 4 }, (_, i) => ({ [`sib/${i}`]: `${i}`.repeat(400_000) + Math.random() })),
);
const REPAIR = buildImage([{ 'repair/file': 'intact\n' }]);
const BIG_BYTES = 256 << 20;

let reg: FakeRegistry;
let failing: FakeRegistry;
let bigReg: FakeRegistry;
const harnesses: StoreHarness[] = [];

function harness(url: string, unpackHelper: string, maxConcurrentDownloads?: number): StoreHarness {
  const h = newStore({
    registries: { '*': { endpoints: [{ url }] } },
    unpackHelper,
    ...(maxConcurrentDownloads ? { maxConcurrentDownloads } : {}),
  });
  harnesses.push(h);
  return h;
}

before(async () => {
  reg = await new FakeRegistry({ images: { 'lib/many:1': MANY, 'lib/repair:1': REPAIR }, blobDelayMs: 120 }).start();
  const [bad, ...stalled] = SIBLINGS.layerDigests as [string, ...string[]];
  failing = await new FakeRegistry({
    images: { 'lib/siblings:1': SIBLINGS },
    corrupt: new Map([[bad, Buffer.alloc(SIBLINGS.blobs.get(bad)?.length ?? 1, 3)]]),
    stall: new Set(stalled),
    fast: new Set([bad]),
    blobDelayMs: 300,
  }).start();
  bigReg = await new FakeRegistry({ images: { 'lib/big:1': imageOfLayers([await zeroLayer(BIG_BYTES)]) } }).start();
});

after(async () => {
  await Promise.allSettled(harnesses.map((h) => h.cleanup()));
  await Promise.allSettled([reg?.stop(), failing?.stop(), bigReg?.stop()]);
});

for (const { where, unpackHelper } of UNPACK_PATHS)
  describe(`pull pipeline, unpacking ${where}`, () => {
    it('fetches at most maxConcurrentDownloads layers at a time, and more than one', async () => {
      const h = harness(reg.url, unpackHelper, 2);
      await h.store.start();
      reg.maxBlobsInFlight = 0;
      await h.store.pull(h.ctx(), { image: 'example.com/lib/many:1' });
      assert.equal(reg.maxBlobsInFlight, 2);
      assert.equal(h.list('layers').length, 6);
    });

    it('stops stalled sibling layers within a second of one failing, leaving nothing half-made', async () => {
      const h = harness(failing.url, unpackHelper, 4);
      await h.store.start();
      const started = Date.now();
      let failedAt = 0;
      await assert.rejects(
        h.store.pull(h.ctx(30_000), { image: 'example.com/lib/siblings:1' }).finally(() => (failedAt = Date.now())),
        (err: Error) => {
          assert.equal(errorKind(err), 'InvalidArgument', err.message);
          assert.match(err.message, /failed verification|not valid gzip/);
          return true;
        },
      );
      // The bad layer is sent at once; the others stall forever: only the abort can end the pull.
      assert.ok(failedAt - started < 1000 + 300, `pull took ${failedAt - started} ms`);
      assert.deepEqual(h.list('tmp'), []);
      assert.deepEqual(h.list('layers'), []);
      assert.deepEqual(h.list('metadata/images'), []);
      for (const d of SIBLINGS.layerDigests) assert.ok(!h.list('blobs/sha256').includes(d.slice(7)));
      // The daemon side: the stalled connections were closed, not left hanging.
      const until = Date.now() + 2000;
      while (failing.blobsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(failing.blobsInFlight, 0);
    });

    it('keeps memory bounded while a 256 MiB layer streams through decompression and tar', async () => {
      const h = harness(bigReg.url, unpackHelper);
      await h.store.start();
      global.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      try {
        await h.store.pull(h.ctx(), { image: 'example.com/lib/big:1' });
      } finally {
        clearInterval(timer);
      }
      const grew = peak - base;
      assert.ok(grew < 96 << 20, `rss grew by ${Math.round(grew / 1048576)} MiB for a ${BIG_BYTES >> 20} MiB layer`);
      const [layer] = h.list('layers');
      assert.ok(layer);
      assert.deepEqual(readdirSync(path.join(h.root, 'layers', layer)), ['zeros']);
    });

    it('notices a stored blob damaged behind its back and fetches it again', async () => {
      const h = harness(reg.url, unpackHelper);
      await h.store.start();
      await h.store.pull(h.ctx(), { image: 'example.com/lib/repair:1' });
      const layer = REPAIR.layerDigests[0] as string;
      const config = REPAIR.configDigest;
      // What a power loss could leave of unsynced blobs: the right names, the wrong bytes. The layer dir is gone too,
      // so the next pull must unpack from the (damaged) stored blob.
      writeFileSync(path.join(h.root, 'blobs/sha256', layer.slice(7)), Buffer.alloc(64));
      writeFileSync(path.join(h.root, 'blobs/sha256', config.slice(7)), '{}');
      await rm(path.join(h.root, 'layers'), { recursive: true });
      await h.store.start();
      const before = reg.blobGets(layer);
      await h.store.pull(h.ctx(), { image: 'example.com/lib/repair:1' });
      assert.equal(reg.blobGets(layer), before + 1, 'the damaged layer blob was fetched again');
      assert.equal(h.list('layers').length, 1);
      const rec = await h.store.status(h.ctx(), 'example.com/lib/repair:1', false);
      assert.equal(rec.image?.id, REPAIR.configDigest);
    });
  });
