/**
 * Volumes (cri-tools pkg/validate/container.go, "runtime should support adding volume and device"): a host
 * directory mounted at the same path in the container, and the same through a symlink to it (the kubelet hands
 * symlinked host paths through unresolved). Container-level only, so they share the default pod.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPod } from './security-user';
import type { Spec, Workload } from './workload';

/** upstream's createHostPath: a fresh directory holding one flag file. */
function hostPath(w: Workload): string {
  const dir = mkdtempSync(path.join(w.hostDir, 'volume-'));
  writeFileSync(path.join(dir, 'testVolume.file'), '');
  return dir;
}

async function volume(w: Workload, source: string): Promise<void> {
  const pod = await defaultPod(w);
  const id = await w.run(pod, 'container-with-volume-test-', {
    mounts: [{ host_path: source, container_path: source, selinux_relabel: true }],
  });
  assert.equal(await w.execOk(id, ['ls', '-A', source]), 'testVolume.file\n');
}

export const VOLUME_SPECS: readonly Spec[] = [
  {
    id: 'volume/host-path',
    title: 'runtime should support starting container with volume',
    run: (w) => volume(w, hostPath(w)),
  },
  {
    id: 'volume/symlinked-host-path',
    title: 'runtime should support starting container with volume when host path is a symlink',
    async run(w) {
      const dir = hostPath(w);
      symlinkSync(dir, `${dir}-symlink`);
      await volume(w, `${dir}-symlink`);
    },
  },
];
