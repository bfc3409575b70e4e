/**
 * Mount propagation (cri-tools pkg/validate/container_linux.go, "Container Mount Propagation"): a host
 * directory made a mount point of its own (rprivate, or rshared for the other two cases) is mounted into a
 * privileged container with PROPAGATION_PRIVATE, _HOST_TO_CONTAINER (rslave) or _BIDIRECTIONAL (rshared). Then
 * a mount made on the node under it must appear in the container for rslave and rshared only, and a mount made
 * in the container must appear on the node for rshared only. ContainerStatus reports the propagation asked for.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { privilegedPod } from './security-privilege';
import { containerSecurity, type Spec, type Workload } from './workload';

const run = promisify(execFile);
type Propagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

/** upstream's createHostPathForMountPropagation: <tmp>/mnt (a mount point) with mnt/propagationMnt, and a source dir. */
async function hostPaths(w: Workload, propagation: Propagation) {
  const root = mkdtempSync(path.join(w.hostDir, 'propagation-'));
  const mntSource = path.join(root, 'mnt');
  const mntPoint = path.join(mntSource, 'propagationMnt');
  const srcDir = path.join(root, 'propagationSrcDir');
  mkdirSync(mntPoint, { recursive: true });
  mkdirSync(srcDir, { recursive: true });
  writeFileSync(path.join(srcDir, 'flagFile'), '');
  await run('mount', ['--rbind', mntSource, mntSource]);
  await run('mount', [propagation === 'PROPAGATION_PRIVATE' ? '--make-rprivate' : '--make-rshared', mntSource]);
  const cleanup = async (): Promise<void> => {
    // A lazy detach of the top takes every mount below it (the node's and one the container propagated).
    await run('umount', ['--lazy', '--recursive', mntSource]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  return { mntSource, mntPoint, srcDir, cleanup };
}

async function propagation(w: Workload, mode: Propagation): Promise<void> {
  const pod = await privilegedPod(w);
  const { mntSource, mntPoint, srcDir, cleanup } = await hostPaths(w, mode);
  try {
    const { id } = await w.create(pod, 'mount-propagation-test-', {
      mounts: [{ host_path: mntSource, container_path: mntSource, propagation: mode }],
      ...containerSecurity({ privileged: true }),
    });
    const [m] = (await w.status(id)).mounts ?? [];
    assert.ok(m, 'ContainerStatus lists the mount');
    assert.equal(m.container_path, mntSource);
    assert.equal(m.host_path, mntSource);
    assert.equal(m.readonly, false);
    assert.equal(m.propagation, mode);
    await w.start(id);
    await w.waitState(id, 'CONTAINER_RUNNING');

    // node → container
    await run('mount', ['--rbind', srcDir, mntPoint]);
    const seen = await w.execOk(id, ['ls', '-A', mntPoint]);
    if (mode === 'PROPAGATION_PRIVATE') assert.equal(seen, '', 'a node mount reached a private mount');
    else assert.equal(seen, 'flagFile\n', 'a node mount did not reach the container');

    // container → node
    const containerMntPoint = path.join(mntSource, 'containerMntPoint');
    await w.execOk(id, ['sh', '-c', `mkdir -p ${containerMntPoint}`]);
    await w.execOk(id, ['sh', '-c', `mount --bind /etc ${containerMntPoint}`]);
    const onNode = readdirSync(containerMntPoint);
    if (mode === 'PROPAGATION_BIDIRECTIONAL')
      assert.notEqual(onNode.length, 0, 'a container mount did not reach the node');
    else assert.deepEqual(onNode, [], 'a container mount reached the node');
  } finally {
    await cleanup();
  }
}

export const MOUNT_PROPAGATION_SPECS: readonly Spec[] = [
  {
    id: 'mount-propagation/rprivate',
    title: "mount with 'rprivate' should not support propagation",
    run: (w) => propagation(w, 'PROPAGATION_PRIVATE'),
  },
  {
    id: 'mount-propagation/rshared',
    title: "mount with 'rshared' should support propagation from host to container and vice versa",
    run: (w) => propagation(w, 'PROPAGATION_BIDIRECTIONAL'),
  },
  {
    id: 'mount-propagation/rslave',
    title: "mount with 'rslave' should support propagation from host to container",
    run: (w) => propagation(w, 'PROPAGATION_HOST_TO_CONTAINER'),
  },
];
