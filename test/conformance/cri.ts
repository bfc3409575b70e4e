/**
 * CRI building blocks of the conformance specs (not a test file), shaped like upstream's pkg/framework: pods
 * named `<prefix><uuid>` (60+ characters, mixed case), uid/namespace prefixes, attempt 2, no hostname, no log
 * directory unless a spec asks; containers from the e2e busybox image running `top`; images pulled, when
 * missing, WITHOUT a runtime handler and with the pod's config, as the kubelet does. Every pod a spec runs is
 * stopped and removed after it (SpecContext.defer), passed or failed.
 */
import assert from 'node:assert/strict';
import { E2E_BUSYBOX } from '../fixtures/images';
import type { SpecContext } from './harness';

export const UID_PREFIX = 'cri-test-uid';
export const NAMESPACE_PREFIX = 'cri-test-namespace';
export const ATTEMPT = 2;
export const DEFAULT_IMAGE = E2E_BUSYBOX.ref;
export const DEFAULT_COMMAND = ['top'];
export const PAUSE_COMMAND = ['sh', '-c', 'top'];
/** Upstream's defaultExecSyncTimeout and DefaultStopContainerTimeout (seconds). */
export const EXEC_TIMEOUT_S = 60;
export const STOP_TIMEOUT_S = 60;

// Loose shapes: specs send requests the way a Go client would, leaving out what upstream leaves out.
export type PodConfig = Record<string, unknown> & {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
};
export type ContainerConfig = Record<string, unknown> & { metadata: { name: string; attempt?: number } };

export function podConfig(c: SpecContext, prefix: string, extra: Record<string, unknown> = {}): PodConfig {
  return {
    metadata: {
      name: prefix + c.uuid(),
      uid: UID_PREFIX + c.uuid(),
      namespace: NAMESPACE_PREFIX + c.uuid(),
      attempt: ATTEMPT,
    },
    linux: {},
    labels: {},
    ...extra,
  };
}

/** RunPodSandbox on the spec's handler; the pod is stopped and removed after the spec. */
export async function runPodSandbox(c: SpecContext, config: PodConfig): Promise<string> {
  const r = await c.rt('RunPodSandbox', { config, runtime_handler: c.handler.name }, { deadlineMs: 240_000 });
  const id = r.pod_sandbox_id;
  c.defer(async () => {
    await c.rt('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
    await c.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 });
  });
  return id;
}

export async function runDefaultPodSandbox(c: SpecContext, prefix: string): Promise<string> {
  return runPodSandbox(c, podConfig(c, prefix));
}

/** Upstream's CreatePodSandboxForContainer. */
export async function podForContainer(c: SpecContext): Promise<{ id: string; config: PodConfig }> {
  const config = podConfig(c, 'create-PodSandbox-for-container-');
  return { id: await runPodSandbox(c, config), config };
}

export function containerConfig(c: SpecContext, prefix: string, extra: Record<string, unknown> = {}): ContainerConfig {
  return {
    metadata: { name: prefix + c.uuid(), attempt: ATTEMPT },
    image: { image: DEFAULT_IMAGE },
    command: DEFAULT_COMMAND,
    linux: {},
    ...extra,
  };
}

/** Pulls the image without a runtime handler when ImageStatus does not know it (framework.CreateContainer). */
export async function ensureImage(c: SpecContext, image: string, pod?: PodConfig): Promise<void> {
  const st = await c.img('ImageStatus', { image: { image } });
  if (st.image) return;
  await c.img('PullImage', { image: { image }, sandbox_config: pod }, { deadlineMs: 180_000 });
}

export async function createContainer(
  c: SpecContext,
  podId: string,
  pod: PodConfig,
  config: ContainerConfig,
): Promise<string> {
  const image = (config.image as { image: string }).image;
  await ensureImage(c, image, pod);
  const withUserImage = { ...config, image: { user_specified_image: image, ...(config.image as object) } };
  const r = await c.rt(
    'CreateContainer',
    { pod_sandbox_id: podId, config: withUserImage, sandbox_config: pod },
    { deadlineMs: 180_000 },
  );
  return r.container_id;
}

export async function createDefaultContainer(c: SpecContext, podId: string, pod: PodConfig, prefix: string) {
  return createContainer(c, podId, pod, containerConfig(c, prefix));
}

export async function startContainer(c: SpecContext, id: string): Promise<void> {
  await c.rt('StartContainer', { container_id: id }, { deadlineMs: 120_000 });
}

export async function stopContainer(c: SpecContext, id: string, timeoutS = STOP_TIMEOUT_S): Promise<void> {
  await c.rt('StopContainer', { container_id: id, timeout: timeoutS }, { deadlineMs: (timeoutS + 60) * 1000 });
}

export async function removeContainer(c: SpecContext, id: string): Promise<void> {
  await c.rt('RemoveContainer', { container_id: id }, { deadlineMs: 120_000 });
}

export async function containerStatus(c: SpecContext, id: string) {
  const r = await c.rt('ContainerStatus', { container_id: id });
  assert.ok(r.status, `ContainerStatus ${id}: no status`);
  return r.status;
}

export async function podStatus(c: SpecContext, id: string) {
  const r = await c.rt('PodSandboxStatus', { pod_sandbox_id: id });
  assert.ok(r.status, `PodSandboxStatus ${id}: no status`);
  return r.status;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** Polls ContainerStatus until the state is reached (upstream's Eventually with a bound). */
export async function waitContainerState(
  c: SpecContext,
  id: string,
  state: ContainerState,
  timeoutMs = 60_000,
): Promise<void> {
  await eventually(`container ${id} in ${state}`, timeoutMs, async () => {
    const s = await containerStatus(c, id);
    assert.equal(s.state, state);
  });
}

export async function execSync(c: SpecContext, id: string, cmd: string[], timeoutS = EXEC_TIMEOUT_S) {
  return c.rt('ExecSync', { container_id: id, cmd, timeout: timeoutS }, { deadlineMs: (timeoutS + 60) * 1000 });
}

/** Retries `probe` until it stops throwing, within a bound; the last error is named. */
export async function eventually(what: string, timeoutMs: number, probe: () => Promise<void>, everyMs = 250) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
