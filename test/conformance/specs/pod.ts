/**
 * PodSandbox basics (cri-tools pkg/validate/pod.go): run (listed by ID, READY), stop (NOTREADY), remove (no
 * longer listed) — with upstream's pod configs: 60+ character mixed-case names and no hostname.
 */
import assert from 'node:assert/strict';
import { podStatus, runDefaultPodSandbox } from '../cri';
import type { Spec, SpecContext } from '../harness';

async function listedIds(c: SpecContext, id: string): Promise<string[]> {
  const r = await c.rt('ListPodSandbox', { filter: { id } });
  return r.items.map((p) => p.id);
}

export const POD_SPECS: readonly Spec[] = [
  {
    id: 'pod/run',
    title: 'runtime should support running PodSandbox',
    async run(c) {
      const id = await runDefaultPodSandbox(c, 'PodSandbox-for-create-test-');
      assert.equal((await podStatus(c, id)).state, 'SANDBOX_READY');
      assert.deepEqual(await listedIds(c, id), [id]);
    },
  },
  {
    id: 'pod/stop',
    title: 'runtime should support stopping PodSandbox',
    async run(c) {
      const id = await runDefaultPodSandbox(c, 'PodSandbox-for-test-stop-');
      await c.rt('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
      assert.equal((await podStatus(c, id)).state, 'SANDBOX_NOTREADY');
    },
  },
  {
    id: 'pod/remove',
    title: 'runtime should support removing PodSandbox',
    async run(c) {
      const id = await runDefaultPodSandbox(c, 'PodSandbox-for-test-remove-');
      await c.rt('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
      await c.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
      assert.deepEqual(await listedIds(c, id), []);
    },
  },
];
