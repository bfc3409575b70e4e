/**
 * Two crimux daemons on one dockerd see only their own containers (#24: the crash harness found a restart's
 * reconcile adopting another daemon's pods as orphans, which its cleanup then removed). Containers made before
 * the owner label existed stay visible to every daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scopeToOwner } from '../../src/backends/docker/owner';
import { LABEL } from '../../src/backends/docker/naming';
import type { CreateContainerBody } from '../../src/backends/docker/engine-types';
import { FakeEngine } from './fake-engine';

test('each daemon lists its own containers and legacy ones, never another daemon’s', async () => {
  const dockerd = new FakeEngine();
  dockerd.images.set('busybox', { id: 'sha256:b', tags: new Set(['busybox:latest']), digests: new Set<string>() });
  const a = scopeToOwner(dockerd, '/a/state/backends/docker');
  const b = scopeToOwner(dockerd, '/b/state/backends/docker');
  const body = (id: string): CreateContainerBody => ({
    Image: 'busybox',
    Labels: { [LABEL.kind]: 'sandbox', [LABEL.id]: id },
    HostConfig: {},
  });
  await a.createContainer('pod-a', body('a1'));
  await b.createContainer('pod-b', body('b1'));
  await dockerd.createContainer('pod-old', body('old')); // made before the owner label
  const ids = async (e: typeof a): Promise<string[]> =>
    (await e.listContainers([`${LABEL.kind}=sandbox`])).map((c) => c.Labels?.[LABEL.id] ?? '').sort();
  assert.deepEqual(await ids(a), ['a1', 'old']);
  assert.deepEqual(await ids(b), ['b1', 'old']);
  const made = [...dockerd.containers.values()].find((c) => c.name === 'pod-a');
  assert.equal(made?.body.Labels[LABEL.owner], '/a/state/backends/docker');
});
