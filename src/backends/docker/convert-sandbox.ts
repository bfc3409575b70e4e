/**
 * RunPodSandbox → the Docker create body of the pod's pause container, and the pause container back to CRI.
 * Pure: the caller supplies the image ID, timestamps and handler options.
 *
 * The pause container owns the pod's namespaces: network (mode `none`, then CNI in its netns; or the host's),
 * IPC (`shareable`, so containers join with `container:<pause>`), and the files Docker writes for DNS and the
 * hostname, which containers joining its network share.
 */
import type * as cri from '../../cri/types';
import type { SandboxFacts } from '../backend';
import type { CreateContainerBody, ContainerInspect, ContainerSummary } from './engine-types';
import { sandboxLabels, readSandbox, type SandboxRecord } from './records';
import { dockerTimeToNs } from './timestamps';

export interface SandboxBodyInput {
  readonly id: string;
  readonly handler: string;
  /** Docker runtime name for HostConfig.Runtime (handler option dockerRuntime); empty: dockerd's default. */
  readonly dockerRuntime: string;
  readonly imageId: string;
  readonly createdAt: string;
  readonly config: cri.PodSandboxConfig;
}

export function isHostNetwork(config: cri.PodSandboxConfig): boolean {
  return config.linux?.security_context?.namespace_options?.network === 'NODE';
}

export function sandboxCreateBody(i: SandboxBodyInput): CreateContainerBody {
  const sc = i.config.linux?.security_context;
  const ns = sc?.namespace_options;
  const hostNetwork = isHostNetwork(i.config);
  const sysctls = i.config.linux?.sysctls ?? {};
  const dns = i.config.dns_config;
  const nonEmpty = (xs: string[] | undefined): string[] | undefined => (xs && xs.length ? xs : undefined);
  const body: CreateContainerBody = {
    Image: i.imageId,
    // With the host's network the host's name is the pod's, as in containerd.
    Hostname: hostNetwork ? undefined : i.config.hostname || undefined,
    Labels: sandboxLabels(i.id, i.handler, i.createdAt, i.config),
    HostConfig: {
      NetworkMode: hostNetwork ? 'host' : 'none',
      IpcMode: ns?.ipc === 'NODE' ? 'host' : 'shareable',
      PidMode: ns?.pid === 'NODE' ? 'host' : undefined,
      // Docker refuses DNS settings together with the host's network, whose resolv.conf the pod uses anyway.
      Dns: hostNetwork ? undefined : nonEmpty(dns?.servers),
      DnsSearch: hostNetwork ? undefined : nonEmpty(dns?.searches),
      DnsOptions: hostNetwork ? undefined : nonEmpty(dns?.options),
      // The router refused sysctls of namespaces the pod shares with the host (net.* on its network): validate.ts.
      Sysctls: Object.keys(sysctls).length ? sysctls : undefined,
      CgroupParent: i.config.linux?.cgroup_parent || undefined,
      Runtime: i.dockerRuntime || undefined,
      Privileged: sc?.privileged || undefined,
      ReadonlyRootfs: sc?.readonly_rootfs || undefined,
      SecurityOpt: sc?.seccomp?.profile_type === 'Unconfined' ? ['seccomp=unconfined'] : undefined,
      // The pause process writes nothing worth keeping.
      LogConfig: { Type: 'none' },
      RestartPolicy: { Name: 'no' },
    },
  };
  return body;
}

function recorded(rec: SandboxRecord, running: boolean): SandboxFacts {
  return {
    id: rec.id,
    metadata: rec.metadata,
    // Pause container running ⇒ the pod is ready; anything else (stopped, dead, crashed) is not.
    ready: running,
    createdAtNs: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    handler: rec.handler,
  };
}

/** A list entry's facts from `docker ps` output; undefined for containers that are not crimux sandboxes. */
export function toSandboxListFacts(s: ContainerSummary): SandboxFacts | undefined {
  const rec = readSandbox(s.Labels);
  return rec ? recorded(rec, s.State === 'running') : undefined;
}

/** A pod's facts from inspect plus the pod IPs (CNI result; empty for host network or before setup). */
export function toSandboxFacts(c: ContainerInspect, ips: readonly string[]): SandboxFacts | undefined {
  const rec = readSandbox(c.Config.Labels);
  if (!rec) return undefined;
  return {
    ...recorded(rec, c.State.Running),
    createdAtNs: rec.createdAt !== '0' ? rec.createdAt : dockerTimeToNs(c.Created),
    ips,
    namespaces: rec.namespaceOptions,
  };
}
