/**
 * Two crimux daemons on one dockerd see only their own containers (#24: the crash harness found a restart's
 * reconcile adopting another daemon's pods as orphans, which its cleanup then removed). Containers made before
 * the owner label existed stay visible to the daemon on the default state dir only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scopeToOwner } from '../../src/backends/docker/owner';
import { LABEL } from '../../src/backends/docker/naming';
import type { CreateContainerBody } from '../../src/backends/docker/engine-types';
import { FakeEngine } from './fake-engine';

test('each daemon lists its own containers, never another daemon’s; unlabelled ones only the installed daemon', async () => {
  const dockerd = new FakeEngine();
  dockerd.images.set('busybox', { id: 'sha256:b', tags: new Set(['busybox:latest']), digests: new Set<string>() });
  const a = scopeToOwner(dockerd, '/var/lib/crimux/backends/docker', true); // the installed daemon
  const b = scopeToOwner(dockerd, '/b/state/backends/docker', false);
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
  assert.deepEqual(await ids(b), ['b1']);
  const made = [...dockerd.containers.values()].find((c) => c.name === 'pod-a');
  assert.equal(made?.body.Labels[LABEL.owner], '/var/lib/crimux/backends/docker');
});
