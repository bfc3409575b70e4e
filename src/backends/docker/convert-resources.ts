/**
 * CRI Linux resources ⇄ Docker resource fields (create HostConfig and POST /containers/{id}/update). Pure.
 */
import type * as cri from '../../cri/types';
import { criResourceNumbers, swapLimit } from '../../host/cri-resources';
import type { DockerResources, HostConfig } from './engine-types';

/**
 * Docker resource fields for CRI resources, read by the shared rule (src/host/cri-resources.ts). Memory swap: an
 * explicit CRI swap limit wins; otherwise swap equals the memory limit (no swap), Kubernetes' default — Docker
 * would allow twice the limit if left unset.
 */
export function toDockerResources(r: cri.LinuxContainerResources | null | undefined, field = 'linux'): DockerResources {
  if (!r) return {};
  const n = criResourceNumbers(r, field);
  const out: DockerResources = {
    CpuShares: n.cpuShares,
    CpuPeriod: n.cpuPeriod,
    CpuQuota: n.cpuQuota,
    CpusetCpus: r.cpuset_cpus,
    CpusetMems: r.cpuset_mems,
    Memory: n.memoryLimitBytes,
  };
  if (n.memoryLimitBytes > 0) out.MemorySwap = swapLimit(n);
  return out;
}

/** CRI ContainerResources as reported in ContainerStatus, from what Docker applied. */
export function fromHostConfig(h: HostConfig): cri.ContainerStatus['resources'] {
  return {
    linux: {
      cpu_period: String(h.CpuPeriod ?? 0),
      cpu_quota: String(h.CpuQuota ?? 0),
      cpu_shares: String(h.CpuShares ?? 0),
      memory_limit_in_bytes: String(h.Memory ?? 0),
      oom_score_adj: String(h.OomScoreAdj ?? 0),
      cpuset_cpus: h.CpusetCpus ?? '',
      cpuset_mems: h.CpusetMems ?? '',
      memory_swap_limit_in_bytes: String(h.MemorySwap && h.MemorySwap > 0 ? h.MemorySwap : 0),
    },
  };
}
