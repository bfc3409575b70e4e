/**
 * PodSandbox basics (cri-tools pkg/validate/pod.go): run (listed by ID, READY), stop (NOTREADY), remove (no
 * longer listed), list filters (id prefix, label, state) — with upstream's pod configs: 60+ character mixed-case names and no hostname.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { podConfig, podStatus, runDefaultPodSandbox, runPodSandbox } from '../cri';
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
  {
    id: 'pod/list-filters',
    title: 'runtime should support listing PodSandbox with filters',
    async run(c) {
      const labels = { 'conformance-list': randomUUID() };
      const ready = await runPodSandbox(c, podConfig(c, 'PodSandbox-for-list-ready-', { labels }));
      const stopped = await runPodSandbox(c, podConfig(c, 'PodSandbox-for-list-stopped-', { labels }));
      await c.rt('StopPodSandbox', { pod_sandbox_id: stopped }, { deadlineMs: 120_000 });
      assert.equal((await podStatus(c, stopped)).state, 'SANDBOX_NOTREADY');
      const list = async (filter: Record<string, unknown>) =>
        (await c.rt('ListPodSandbox', { filter })).items.map((p) => p.id).sort();
      assert.deepEqual(await list({ label_selector: labels }), [ready, stopped].sort(), 'by label');
      assert.deepEqual(await list({ id: ready.slice(0, 12) }), [ready], 'by id prefix');
      assert.deepEqual(await list({ label_selector: labels, state: { state: 'SANDBOX_READY' } }), [ready], 'ready');
      assert.deepEqual(await list({ label_selector: labels, state: { state: 'SANDBOX_NOTREADY' } }), [stopped]);
    },
  },
];
