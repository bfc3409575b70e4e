/**
 * rkt api/v1 → CRI, pure functions (rktlet's toPodSandboxStatus/toContainerStatus, without their bugs: metadata
 * comes from annotations, not from re-parsing a sanitised app name; CreatedAt is the pod's creation, not its
 * start; reserved annotations never leak to the kubelet).
 */
import type * as cri from '../../cri/types';
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

export function sandboxState(pod: v1.Pod): cri.PodSandboxState {
  return pod.state === 'running' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

export function toPodSandbox(id: string, pod: v1.Pod, handler: string): cri.PodSandbox {
  return {
    id,
    metadata: sandboxMetadata(pod),
    state: sandboxState(pod),
    created_at: pod.created_at ?? pod.started_at ?? '0',
    labels: { ...(pod.user_labels ?? {}) },
    annotations: criAnnotations(pod.user_annotations),
    runtime_handler: handler,
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

export function toPodSandboxStatus(
  id: string,
  pod: v1.Pod,
  handler: string,
  ips: readonly string[],
  hostNetwork: boolean,
): cri.PodSandboxStatus {
  return {
    ...toPodSandbox(id, pod, handler),
    network: { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: hostNetwork ? 'NODE' : 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

export function containerState(app: v1.App): cri.ContainerState {
  switch (app.state) {
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
      return 'CONTAINER_RUNNING';
    case 'exited':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

export function containerMetadata(app: v1.App): cri.ContainerMetadata {
  const a = app.user_annotations ?? {};
  return {
    name: a[CONTAINER_NAME_ANNOTATION] ?? app.name,
    attempt: Number(a[CONTAINER_ATTEMPT_ANNOTATION] ?? '0') || 0,
  };
}

export function toContainer(id: string, sandboxId: string, app: v1.App): cri.Container {
  const image = app.user_annotations?.[IMAGE_NAME_ANNOTATION] ?? '';
  return {
    id,
    pod_sandbox_id: sandboxId,
    metadata: containerMetadata(app),
    image: { image },
    image_ref: app.image_id,
    image_id: app.image_id,
    state: containerState(app),
    created_at: app.created_at ?? '0',
    labels: { ...(app.user_labels ?? {}) },
    annotations: criAnnotations(app.user_annotations),
  };
}

/** Reason as containerd reports it: Completed for 0, Error otherwise, OOMKilled when the kernel killed it. */
export function exitReason(app: v1.App): string {
  if (app.state !== 'exited') return '';
  if (app.user_annotations?.[OOM_ANNOTATION] === 'true') return 'OOMKilled';
  return app.exit_code === 0 ? 'Completed' : 'Error';
}

export function toContainerStatus(id: string, app: v1.App, logPath: string): cri.ContainerStatus {
  const c = toContainer(id, '', app);
  return {
    id,
    metadata: c.metadata,
    state: c.state,
    created_at: c.created_at,
    started_at: app.started_at ?? '0',
    finished_at: app.finished_at ?? '0',
    exit_code: app.exit_code ?? 0,
    image: c.image,
    image_ref: app.image_id,
    image_id: app.image_id,
    reason: exitReason(app),
    message:
      app.exit_code === 255 && app.state === 'exited' ? 'exit code 255: the app exited or its monitor was lost' : '',
    labels: c.labels,
    annotations: c.annotations,
    mounts: (app.mounts ?? []).map((m) => ({
      container_path: m.container_path,
      host_path: m.host_path,
      readonly: m.read_only,
      selinux_relabel: false,
      propagation: 'PROPAGATION_PRIVATE',
    })),
    log_path: logPath,
  };
}
