/**
 * Finding crimux IDs in rkt terms: the index first (no pod-manager call), else `list` and the crimux.io/*-id user
 * annotations, which rebuilds the index entry — the path taken after the index was lost or a crash cut a create
 * between the pod manager's work and the index write.
 */
import type * as v1 from './api';
import type { RktShared } from './context';
import { CONTAINER_ID_ANNOTATION, SANDBOX_ID_ANNOTATION, type ContainerRecord, type SandboxRecord } from './records';
import { HANDLER_ANNOTATION } from './convert';

export async function findSandbox(s: RktShared, id: string, signal?: AbortSignal): Promise<SandboxRecord | undefined> {
  const rec = await s.index.getSandbox(id);
  if (rec?.uuid) return rec;
  const pod = (await s.pm.list(signal)).find((p) => p.user_annotations?.[SANDBOX_ID_ANNOTATION] === id);
  if (!pod) return rec;
  const rebuilt: SandboxRecord = {
    version: 1,
    id,
    state: 'created',
    uuid: pod.name,
    netns: rec?.netns ?? (s.network ? s.network.netnsPath(id) : ''),
    handler: rec?.handler ?? pod.user_annotations?.[HANDLER_ANNOTATION] ?? 'rkt',
  };
  await s.index.putSandbox(rebuilt);
  return rebuilt;
}

export async function findContainer(
  s: RktShared,
  id: string,
  signal?: AbortSignal,
): Promise<ContainerRecord | undefined> {
  const rec = await s.index.getContainer(id);
  if (rec) return rec;
  for (const pod of await s.pm.list(signal)) {
    const app = (pod.apps ?? []).find((a) => a.user_annotations?.[CONTAINER_ID_ANNOTATION] === id);
    const sandboxId = pod.user_annotations?.[SANDBOX_ID_ANNOTATION];
    if (!app || !sandboxId) continue;
    const rebuilt: ContainerRecord = {
      version: 1,
      id,
      state: 'created',
      sandboxId,
      uuid: pod.name,
      app: app.name,
      logPath: '',
    };
    await s.index.putContainer(rebuilt);
    return rebuilt;
  }
  return undefined;
}

/** Pods created by crimux (rktlet skipped pods without its reserved annotations the same way). */
export function crimuxPods(pods: readonly v1.Pod[]): { id: string; pod: v1.Pod }[] {
  const out: { id: string; pod: v1.Pod }[] = [];
  for (const pod of pods) {
    const id = pod.user_annotations?.[SANDBOX_ID_ANNOTATION];
    if (id) out.push({ id, pod });
  }
  return out;
}
