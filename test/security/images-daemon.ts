/**
 * A real daemon whose registry host `evil.example` is a fake registry on loopback, and the checks every hostile
 * image case ends with: the pull failed with the expected gRPC code, nothing was left in the store's temp dir or
 * as a layer, and the daemon still serves (Version, ListImages, and a good pull from the same registry).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import type { grpc } from '../helpers/cri-client';
import type { FakeRegistry } from '../images/fake-registry';

export const HOST = 'evil.example';

export function startWithRegistry(reg: FakeRegistry, images: Record<string, unknown> = {}): Promise<DaemonHandle> {
  return startDaemon({
    config: {
      backends: { runc: { enabled: true } },
      network: { confDir: '/nonexistent' },
      images: { ...images, registries: { [HOST]: { endpoints: [{ url: reg.url }] } } },
    },
  });
}

export async function pullFails(d: DaemonHandle, image: string, code: number, re?: RegExp): Promise<string> {
  const err = await d.img('PullImage', { image: { image } }, { deadlineMs: 60_000 }).then(
    () => assert.fail(`pull of ${image} should fail`),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, code, err.details);
  if (re) assert.match(err.details, re);
  return err.details;
}

/** The daemon answers, lists images, pulls `good`, and its store kept no temp files. */
export async function stillServing(d: DaemonHandle, good: string, badLayers: readonly string[] = []): Promise<void> {
  await d.rt('Version', { version: 'v1' });
  await d.img('ListImages', {});
  const res = await d.img('PullImage', { image: { image: good } }, { deadlineMs: 60_000 });
  assert.ok(res.image_ref.startsWith('sha256:'));
  const root = path.join(d.stateDir, 'images');
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  const blobs = fs.readdirSync(path.join(root, 'blobs', 'sha256'));
  for (const l of badLayers) assert.ok(!blobs.includes(l.slice(7)), `blob ${l} stored`);
}
