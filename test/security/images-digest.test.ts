/**
 * Digest references through the daemon's socket: a sha512 reference the registry's manifest does not match is
 * refused (INVALID_ARGUMENT), as are digest algorithms crimux cannot verify; a matching sha512 reference pulls. The
 * daemon keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { grpc } from '../helpers/cri-client';
import type { DaemonHandle } from '../helpers/daemon';
import { FakeRegistry, buildImage } from '../images/fake-registry';
import { HOST, pullFails, startWithRegistry, stillServing } from './images-daemon';
import { recordOutcome, SHARED_STORE } from './images-results';

const IMG = buildImage([{ 'digest/file': 'x\n' }]);
const GOOD = buildImage([{ 'good/file': 'fine\n' }]);
const WRONG = 'cd'.repeat(64);
let reg: FakeRegistry;
let d: DaemonHandle;

before(async () => {
  // The registry answers the wrong digest with IMG's manifest: only crimux's own check can notice.
  reg = await new FakeRegistry({
    images: { 'x/app:1': IMG, 'x/good:1': GOOD, [`x/app:sha512:${WRONG}`]: IMG },
  }).start();
  d = await startWithRegistry(reg);
});

after(async () => {
  await d?.cleanup();
  await reg?.stop();
});

describe('digest references (daemon socket)', () => {
  it('refuses a sha512 reference the manifest does not match', async () => {
    await pullFails(d, `${HOST}/x/app@sha512:${WRONG}`, grpc.status.INVALID_ARGUMENT, /with digest sha512:/);
    await stillServing(d, `${HOST}/x/good:1`, IMG.layerDigests);
    recordOutcome({
      attack: 'sha512 reference served a different manifest',
      backend: SHARED_STORE,
      outcome: 'refused: digest mismatch',
    });
  });

  it('refuses digest algorithms it cannot verify', async () => {
    await pullFails(d, `${HOST}/x/app@md5:${'a'.repeat(32)}`, grpc.status.INVALID_ARGUMENT, /unsupported digest/);
    await stillServing(d, `${HOST}/x/good:1`);
    recordOutcome({
      attack: 'reference with an unverifiable digest algorithm (md5)',
      backend: SHARED_STORE,
      outcome: 'refused: InvalidArgument',
    });
  });

  it('pulls by a matching sha512 digest', async () => {
    const hex = createHash('sha512').update(IMG.manifest).digest('hex');
    const ref = `${HOST}/x/app@sha512:${hex}`;
    const res = await d.img('PullImage', { image: { image: ref } }, { deadlineMs: 60_000 });
    assert.equal(res.image_ref, IMG.configDigest);
    const st = await d.img('ImageStatus', { image: { image: ref } });
    assert.equal(st.image?.id, IMG.configDigest);
  });
});
