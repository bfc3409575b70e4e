/**
 * CRI Linux resources ⇄ Docker resource fields (create HostConfig and POST /containers/{id}/update). Pure.
 */
import type * as cri from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import type { DockerResources, HostConfig } from './engine-types';

function int(what: string, v: string | undefined): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`convert resources: ${what} "${v}" is not an integer`);
  return n;
}

/**
 * Docker resource fields for CRI resources. Memory swap: an explicit CRI swap limit wins; otherwise swap equals the
 * memory limit (no swap), Kubernetes' default — Docker would allow twice the limit if left unset.
 */
export function toDockerResources(r: cri.LinuxContainerResources | null | undefined): DockerResources {
  if (!r) return {};
  const memory = int('memory_limit_in_bytes', r.memory_limit_in_bytes);
  const swap = int('memory_swap_limit_in_bytes', r.memory_swap_limit_in_bytes);
  const out: DockerResources = {
    CpuShares: int('cpu_shares', r.cpu_shares),
    CpuPeriod: int('cpu_period', r.cpu_period),
    CpuQuota: int('cpu_quota', r.cpu_quota),
    CpusetCpus: r.cpuset_cpus,
    CpusetMems: r.cpuset_mems,
    Memory: memory,
  };
  if (memory > 0) out.MemorySwap = swap > 0 ? swap : memory;
  return out;
}

/**
 * The oom_score_adj to ask for: runc cannot lower it below what its parent has (unprivileged oom_score_adj rules,
 * see docs host notes), so a lower request is clamped to `floor` (crimux's own value), as containerd's
 * restrict_oom_score_adj does. Returns the value and whether it was clamped, so the caller can log it.
 */
export function clampOomScoreAdj(requested: string | undefined, floor: number): { value: number; clamped: boolean } {
  const want = int('oom_score_adj', requested);
  return want < floor ? { value: floor, clamped: true } : { value: want, clamped: false };
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
