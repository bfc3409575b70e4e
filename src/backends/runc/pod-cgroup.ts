/**
 * Limits on a pod-level cgroup that crimux owns (pods without a kubelet-given cgroup_parent). The kubelet sizes
 * its own pod cgroups from the pod's resources plus its RuntimeClass overhead; crimux does the same for the
 * parents it creates, so a pod's containers together cannot exceed what the pod asked for. The host's cgroup layer
 * (v1 or v2) turns the limits into its own files.
 */
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { CgroupLayer } from '../../host/cgroup';
import { criResourceNumbers } from '../../host/cri-resources';

/** Sum of resources and overhead, or undefined when neither sets a limit. */
export function podLimits(
  overhead: cri.LinuxContainerResources | null,
  resources: cri.LinuxContainerResources | null,
): { memory?: number; shares?: number; quota?: number; period?: number } | undefined {
  if (!overhead && !resources) return undefined;
  const out: { memory?: number; shares?: number; quota?: number; period?: number } = {};
  const r = criResourceNumbers(resources, 'linux.resources');
  const o = criResourceNumbers(overhead, 'linux.overhead');
  if (r.memoryLimitBytes > 0) out.memory = r.memoryLimitBytes + o.memoryLimitBytes;
  const shares = r.cpuShares + o.cpuShares;
  if (shares > 0) out.shares = Math.max(2, shares);
  if (r.cpuQuota > 0) {
    out.quota = r.cpuQuota + Math.max(0, o.cpuQuota);
    out.period = r.cpuPeriod || 100_000;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Creates the pod cgroup with its limits (a no-op when the pod sets none: runc creates the parent on demand). */
export async function applyPodCgroup(
  cgroups: CgroupLayer,
  parent: string,
  overhead: cri.LinuxContainerResources | null,
  resources: cri.LinuxContainerResources | null,
  log: Logger,
): Promise<void> {
  const lim = podLimits(overhead, resources);
  if (!lim) return;
  log.info('set pod cgroup limits', { cgroup: parent, cgroupVersion: cgroups.version, ...lim });
  await cgroups.apply(parent, {
    cpuShares: lim.shares,
    cpuQuota: lim.quota,
    cpuPeriod: lim.period,
    memoryLimitBytes: lim.memory,
  });
}
