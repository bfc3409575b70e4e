/**
 * rkt api/v1 → pod and container facts, pure functions (rktlet's toPodSandboxStatus/
 * toContainerStatus, without their bugs: metadata
 * comes from annotations, not from re-parsing a sanitised app name; CreatedAt is the pod's creation, not its
 * start; reserved annotations never leak to the kubelet).
 */
import type * as cri from '../../cri/types';
import type { ContainerFacts, ContainerPhase, SandboxFacts } from '../backend';
import { OOM_KILLED_ANNOTATION as OOM_ANNOTATION } from './api';
import type * as v1 from './api';
import { CONTAINER_ID_ANNOTATION, SANDBOX_ID_ANNOTATION } from './records';
import { CONTAINER_ATTEMPT_ANNOTATION, CONTAINER_NAME_ANNOTATION, IMAGE_NAME_ANNOTATION } from './spec';

export const POD_UID = 'k8s.io/reserved/pod-uid';
export const POD_NAME = 'k8s.io/reserved/pod-name';
export const POD_NAMESPACE = 'k8s.io/reserved/pod-namespace';
export const POD_ATTEMPT = 'k8s.io/reserved/pod-attempt';
export const HANDLER_ANNOTATION = 'crimux.io/runtime-handler';

const RESERVED = new Set([
  POD_UID,
  POD_NAME,
  POD_NAMESPACE,
  POD_ATTEMPT,
  HANDLER_ANNOTATION,
  OOM_ANNOTATION,
  SANDBOX_ID_ANNOTATION,
  CONTAINER_ID_ANNOTATION,
  IMAGE_NAME_ANNOTATION,
  CONTAINER_NAME_ANNOTATION,
  CONTAINER_ATTEMPT_ANNOTATION,
]);

/** The user annotations the kubelet gave (rktlet's getKubernetesAnnotations), without the reserved ones. */
export function criAnnotations(a: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a ?? {})) if (!RESERVED.has(k)) out[k] = v;
  return out;
}

export function sandboxMetadata(pod: v1.Pod): cri.PodSandboxMetadata {
  const a = pod.user_annotations ?? {};
  return {
    name: a[POD_NAME] ?? '',
    uid: a[POD_UID] ?? '',
    namespace: a[POD_NAMESPACE] ?? '',
    attempt: Number(a[POD_ATTEMPT] ?? '0') || 0,
  };
}

export function podFacts(id: string, pod: v1.Pod, handler: string): SandboxFacts {
  return {
    id,
    metadata: sandboxMetadata(pod),
    ready: pod.state === 'running',
    createdAtNs: pod.created_at ?? pod.started_at ?? '0',
    labels: { ...(pod.user_labels ?? {}) },
    annotations: criAnnotations(pod.user_annotations),
    handler,
  };
}

/** rktlet's getIP: the network named rkt.kubernetes.io, else "default", else the first. */
export function podIps(pod: v1.Pod, fallback: readonly string[]): string[] {
  const nets = pod.networks ?? [];
  const pick =
    nets.find((n) => n.netName === 'rkt.kubernetes.io') ?? nets.find((n) => n.netName === 'default') ?? nets[0];
  const ips = pick ? [pick.ip, ...nets.filter((n) => n !== pick).map((n) => n.ip)] : [];
  return ips.length > 0 ? ips : [...fallback];
}

/** A pod's status facts: its IPs, and the node's network when it has no netns of its own. */
export function podStatusFacts(
  id: string,
  pod: v1.Pod,
  handler: string,
  ips: readonly string[],
  hostNetwork: boolean,
): SandboxFacts {
  return {
    ...podFacts(id, pod, handler),
    ips,
    namespaces: { network: hostNetwork ? 'NODE' : 'POD', pid: 'POD', ipc: 'POD' },
  };
}

function phaseOf(app: v1.App): ContainerPhase {
  switch (app.state) {
    case 'created':
    case 'running':
    case 'exited':
      return app.state;
    default:
      return 'unknown';
  }
}

export function containerMetadata(app: v1.App): cri.ContainerMetadata {
  const a = app.user_annotations ?? {};
  return {
    name: a[CONTAINER_NAME_ANNOTATION] ?? app.name,
    attempt: Number(a[CONTAINER_ATTEMPT_ANNOTATION] ?? '0') || 0,
  };
}

/** What crimux recorded of an app at create (the pod manager does not keep it). */
export interface AppRecordFacts {
  readonly logPath: string;
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
}

/** An app's facts, from its rkt api/v1 JSON plus what crimux recorded of it. */
export function appFacts(id: string, sandboxId: string, app: v1.App, rec?: AppRecordFacts): ContainerFacts {
  const exited = app.state === 'exited';
  return {
    id,
    sandboxId,
    metadata: containerMetadata(app),
    image: { image: app.user_annotations?.[IMAGE_NAME_ANNOTATION] ?? '' },
    imageRef: app.image_id,
    imageId: app.image_id,
    createdAtNs: app.created_at ?? '0',
    labels: { ...(app.user_labels ?? {}) },
    annotations: criAnnotations(app.user_annotations),
    phase: phaseOf(app),
    startedAtNs: app.started_at ?? '0',
    finishedAtNs: app.finished_at ?? '0',
    exitCode: app.exit_code ?? 0,
    oomKilled: app.user_annotations?.[OOM_ANNOTATION] === 'true',
    ...(exited && app.exit_code === 255 ? { message: 'exit code 255: the app exited or its monitor was lost' } : {}),
    mounts: (app.mounts ?? []).map((m) => ({
      container_path: m.container_path,
      host_path: m.host_path,
      readonly: m.read_only,
      selinux_relabel: false,
      propagation: 'PROPAGATION_PRIVATE',
    })),
    logPath: rec?.logPath ?? '',
    ...(rec?.user ? { user: rec.user } : {}),
  };
}
