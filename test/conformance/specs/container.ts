/**
 * Container basics (cri-tools pkg/validate/container.go, idempotence.go): create, start, stop, remove in each
 * state, ExecSync with and without a timeout, list filters, and the idempotency rules (stop/remove of unknown
 * IDs, stop twice, remove twice). Containers of one handler share one pod (the pod is not what these test);
 * every container a spec creates is removed after it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  PAUSE_COMMAND,
  containerConfig,
  containerStatus,
  createContainer,
  execSync,
  podConfig,
  podStatus,
  removeContainer,
  runPodSandbox,
  startContainer,
  stopContainer,
  waitContainerState,
  type PodConfig,
} from '../cri';
import type { Spec, SpecContext } from '../harness';

export interface SharedPod {
  readonly id: string;
  readonly config: PodConfig;
}

/** The handler's pod for container specs (upstream's CreatePodSandboxForContainer, made once per file). */
export function containerPod(c: SpecContext): Promise<SharedPod> {
  return c.shared(
    'container-pod',
    async () => {
      const config = podConfig(c, 'create-PodSandbox-for-container-');
      const r = await c.rt('RunPodSandbox', { config, runtime_handler: c.handler.name }, { deadlineMs: 240_000 });
      return { id: r.pod_sandbox_id, config };
    },
    async (pod) => {
      await c.rt('StopPodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
      await c.rt('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
    },
  );
}

/** Creates a container in the shared pod; it is removed after the spec. */
export async function newContainer(c: SpecContext, prefix: string, extra: Record<string, unknown> = {}) {
  const pod = await containerPod(c);
  const id = await createContainer(c, pod.id, pod.config, containerConfig(c, prefix, extra));
  c.defer(() => c.rt('RemoveContainer', { container_id: id }, { deadlineMs: 120_000 }));
  return id;
}

export async function runningContainer(c: SpecContext, prefix: string, extra: Record<string, unknown> = {}) {
  const id = await newContainer(c, prefix, extra);
  await startContainer(c, id);
  await waitContainerState(c, id, 'CONTAINER_RUNNING');
  return id;
}

async function listIds(c: SpecContext, filter: Record<string, unknown>): Promise<string[]> {
  return (await c.rt('ListContainers', { filter })).containers.map((x) => x.id);
}

async function expectRemoved(c: SpecContext, id: string): Promise<void> {
  await removeContainer(c, id);
  assert.deepEqual(await listIds(c, { id }), [], 'container still listed after RemoveContainer');
}

export const CONTAINER_SPECS: readonly Spec[] = [
  {
    id: 'container/create',
    title: 'runtime should support creating container',
    async run(c) {
      const id = await newContainer(c, 'container-for-create-');
      assert.deepEqual(await listIds(c, { id }), [id]);
      assert.equal((await containerStatus(c, id)).state, 'CONTAINER_CREATED');
    },
  },
  {
    id: 'container/start',
    title: 'runtime should support starting container',
    async run(c) {
      await runningContainer(c, 'container-for-start-test-');
    },
  },
  {
    id: 'container/stop',
    title: 'runtime should support stopping container',
    async run(c) {
      const id = await runningContainer(c, 'container-for-stop-test-');
      await stopContainer(c, id);
      await waitContainerState(c, id, 'CONTAINER_EXITED');
    },
  },
  {
    id: 'container/stop-right-after-start',
    title: 'runtime should support stopping a container milliseconds after starting it',
    async run(c) {
      // The kubelet kills a pod whose deletion raced its start: StopContainer arrives while the process is
      // still being set up.
      const id = await newContainer(c, 'container-for-quick-stop-test-', { command: PAUSE_COMMAND });
      await startContainer(c, id);
      await stopContainer(c, id, 2);
      await waitContainerState(c, id, 'CONTAINER_EXITED', 30_000);
    },
  },
  {
    id: 'container/remove-created',
    title: 'runtime should support removing created container',
    async run(c) {
      const id = await newContainer(c, 'container-for-remove-created-test-', { command: PAUSE_COMMAND });
      await expectRemoved(c, id);
    },
  },
  {
    id: 'container/remove-running',
    title: 'runtime should support removing running container',
    async run(c) {
      const id = await runningContainer(c, 'container-for-remove-running-test-', { command: PAUSE_COMMAND });
      await expectRemoved(c, id);
    },
  },
  {
    id: 'container/remove-stopped',
    title: 'runtime should support removing stopped container',
    async run(c) {
      const id = await runningContainer(c, 'container-for-remove-stopped-test-', { command: PAUSE_COMMAND });
      await stopContainer(c, id);
      await waitContainerState(c, id, 'CONTAINER_EXITED');
      await expectRemoved(c, id);
    },
  },
  {
    id: 'container/exec-sync',
    title: 'runtime should support execSync',
    async run(c) {
      const id = await runningContainer(c, 'container-for-execSync-test-');
      const r = await execSync(c, id, ['echo', '-n', 'hello'], 30);
      assert.equal(r.stdout.toString(), 'hello');
      assert.equal(r.stderr.toString(), '');
      assert.equal(r.exit_code, 0);
    },
  },
  {
    // Not upstream's: crimux's one rule for every backend (src/host/exec-output.ts), as the kubelet reads it.
    id: 'container/exec-sync-large-output',
    title: "execSync keeps the first 8 MiB of each stream, the reply under the kubelet's 16 MiB",
    async run(c) {
      const id = await runningContainer(c, 'container-for-execSync-large-output-test-');
      const twelveMB = 'head -c 12000000 /dev/zero';
      const r = await execSync(c, id, ['sh', '-c', `${twelveMB}; ${twelveMB} >&2; exit 4`], 120);
      assert.equal(r.exit_code, 4);
      assert.equal(r.stdout.length, 8 * 1024 * 1024, 'stdout keeps its first 8 MiB');
      assert.ok(
        r.stderr.length >= 8 * 1024 * 1024 - 1024 && r.stderr.length <= 8 * 1024 * 1024,
        `stderr ${r.stderr.length}`,
      );
      assert.ok(r.stdout.every((b) => b === 0) && r.stderr.every((b) => b === 0), 'the bytes the command printed');
    },
  },
  {
    id: 'container/exec-sync-timeout',
    title: 'runtime should support execSync with timeout',
    async run(c) {
      const id = await runningContainer(c, 'container-for-execSync-timeout-test-');
      await assert.rejects(execSync(c, id, ['sleep', '4321'], 1), 'execSync should time out');
      // The timed-out process is gone.
      const r = await execSync(c, id, ['sh', '-c', 'pgrep sleep || true'], 30);
      assert.equal(r.stderr.toString(), '');
      assert.equal(r.stdout.toString().trim(), '');
    },
  },
  {
    id: 'container/list-filters',
    title: 'runtime should support listing containers with filters',
    async run(c) {
      const pod = await containerPod(c);
      const labels = { 'conformance-list': randomUUID() };
      const running = await runningContainer(c, 'container-for-list-running-', { labels });
      const created = await newContainer(c, 'container-for-list-created-', { labels });
      assert.deepEqual(await listIds(c, { id: running }), [running], 'by id');
      assert.deepEqual(await listIds(c, { id: running.slice(0, 12) }), [running], 'by id prefix');
      assert.deepEqual((await listIds(c, { label_selector: labels })).sort(), [created, running].sort(), 'by label');
      const inPod = await listIds(c, { pod_sandbox_id: pod.id, label_selector: labels });
      assert.deepEqual(inPod.sort(), [created, running].sort(), 'by pod and label');
      const byState = (state: string) => listIds(c, { state: { state }, label_selector: labels });
      assert.deepEqual(await byState('CONTAINER_RUNNING'), [running], 'running');
      assert.deepEqual(await byState('CONTAINER_CREATED'), [created], 'created');
      assert.deepEqual(await listIds(c, { pod_sandbox_id: randomUUID(), label_selector: labels }), [], 'other pod');
    },
  },
];

export const IDEMPOTENCE_SPECS: readonly Spec[] = [
  {
    id: 'idempotence/stop-pod-not-found',
    title: 'StopPodSandbox should not return an error if not found',
    async run(c) {
      await c.rt('StopPodSandbox', { pod_sandbox_id: randomUUID() });
    },
  },
  {
    id: 'idempotence/stop-pod-twice',
    title: 'StopPodSandbox should not return an error if already stopped',
    async run(c) {
      const id = await runPodSandbox(c, podConfig(c, 'idempotence-pod-'));
      for (let i = 0; i < 2; i++) {
        await c.rt('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
        assert.equal((await podStatus(c, id)).state, 'SANDBOX_NOTREADY');
      }
    },
  },
  {
    id: 'idempotence/remove-pod-not-found',
    title: 'RemovePodSandbox should not return an error if not found',
    async run(c) {
      await c.rt('RemovePodSandbox', { pod_sandbox_id: randomUUID() });
    },
  },
  {
    id: 'idempotence/stop-container-not-found',
    title: 'StopContainer should not return an error if not found',
    async run(c) {
      await c.rt('StopContainer', { container_id: randomUUID(), timeout: 0 });
    },
  },
  {
    id: 'idempotence/container-stop-remove-twice',
    title: 'StopContainer should not return an error if already stopped',
    async run(c) {
      const id = await runningContainer(c, 'idempotence-container-', { command: PAUSE_COMMAND });
      await stopContainer(c, id);
      await waitContainerState(c, id, 'CONTAINER_EXITED');
      await stopContainer(c, id);
      await removeContainer(c, id);
      await removeContainer(c, id);
    },
  },
  {
    id: 'idempotence/remove-container-not-found',
    title: 'RemoveContainer should not return an error if not found',
    async run(c) {
      await c.rt('RemoveContainer', { container_id: randomUUID() });
    },
  },
];
