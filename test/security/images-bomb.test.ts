/**
 * Hostile layers through the daemon's socket: a decompression bomb (1 GiB of zeros in ≈1 MiB of gzip) and an
 * inode bomb (thousands of empty files) each fail their PullImage with RESOURCE_EXHAUSTED under the configured
 * limits, leave nothing in the store, and the daemon keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { grpc } from '../helpers/cri-client';
import type { DaemonHandle } from '../helpers/daemon';
import { FakeRegistry, buildImage, sha, tarOf } from '../images/fake-registry';
import { imageOfLayers, zeroLayer } from '../images/layer-builders';
import { HOST, pullFails, startWithRegistry, stillServing } from './images-daemon';
import { recordOutcome, SHARED_STORE } from './images-results';

const GOOD = buildImage([{ 'good/file': 'fine\n' }]);
let reg: FakeRegistry;
let d: DaemonHandle;
let bombLayer = '';
let inodeLayer = '';

before(async () => {
  const bomb = imageOfLayers([await zeroLayer(1 << 30)]);
  const files: Record<string, string> = {};
  for (let i = 0; i < 5000; i++) files[`n/${i}`] = '';
  const tar = tarOf(files);
  const inodes = imageOfLayers([
    { blob: gzipSync(tar), diffId: sha(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
  ]);
  bombLayer = bomb.layerDigests[0] as string;
  inodeLayer = inodes.layerDigests[0] as string;
  reg = await new FakeRegistry({ images: { 'x/bomb:1': bomb, 'x/inodes:1': inodes, 'x/good:1': GOOD } }).start();
  d = await startWithRegistry(reg, { limits: { layerBytes: 64 << 20, layerEntries: 1000 } });
});

after(async () => {
  await d?.cleanup();
  await reg?.stop();
});

describe('hostile layers (daemon socket)', () => {
  it('a gzip bomb fails the pull at the uncompressed limit; the daemon keeps serving', async () => {
    const details = await pullFails(d, `${HOST}/x/bomb:1`, grpc.status.RESOURCE_EXHAUSTED, /layerBytes/);
    await stillServing(d, `${HOST}/x/good:1`, [bombLayer]);
    recordOutcome({
      attack: 'decompression bomb layer (1 GiB of zeros in 1 MiB gzip)',
      backend: SHARED_STORE,
      outcome: `refused (RESOURCE_EXHAUSTED): ${details.replace(/^.*sha256:[0-9a-f]+ /, '')}; store clean; daemon serving`,
    });
  });

  it('an inode bomb fails the pull at the entry limit; the daemon keeps serving', async () => {
    const details = await pullFails(d, `${HOST}/x/inodes:1`, grpc.status.RESOURCE_EXHAUSTED, /layerEntries/);
    await stillServing(d, `${HOST}/x/good:1`, [inodeLayer]);
    recordOutcome({
      attack: 'inode bomb layer (5000 entries, limit 1000)',
      backend: SHARED_STORE,
      outcome: `refused (RESOURCE_EXHAUSTED): ${details.replace(/^.*sha256:[0-9a-f]+ /, '')}; store clean; daemon serving`,
    });
  });
});
