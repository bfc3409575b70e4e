/**
 * CRI LinuxContainerResources → OCI linux.resources (cgroup v1 semantics, as containerd's WithResources; runc converts
 * them to v2 files itself on a unified host: shares → cpu.weight, quota → cpu.max, …), and the logged OOM score
 * clamp. The numbers and the clamp's rule are the shared ones of src/host/cri-resources.ts.
 */
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { OciResources } from '../../host/oci-spec';
import { hostCgroups, type CgroupLayer } from '../../host/cgroup';
import { clampOomScoreAdj as clampOomScore, criInt, criResourceNumbers, swapLimit } from '../../host/cri-resources';

/** OCI resources for a container; `field` prefixes error messages (e.g. "config.linux.resources"). */
export function toOciResources(
  r: cri.LinuxContainerResources | null,
  field: string,
  log: Logger,
  cgroups: Pick<CgroupLayer, 'version' | 'hasController'> = hostCgroups(),
): OciResources {
  const out: OciResources = {};
  if (!r) return out;
  const n = criResourceNumbers(r, field);
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (n.cpuShares > 0) cpu.shares = n.cpuShares;
  if (n.cpuQuota !== 0) cpu.quota = n.cpuQuota;
  if (n.cpuPeriod > 0) cpu.period = n.cpuPeriod;
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (n.memoryLimitBytes > 0) out.memory = { limit: n.memoryLimitBytes, swap: swapLimit(n) };
  if ((r.hugepage_limits ?? []).length > 0) {
    if (cgroups.hasController('hugetlb')) {
      out.hugepageLimits = r.hugepage_limits.map((h, i) => ({
        pageSize: h.page_size,
        limit: criInt(h.limit, `${field}.hugepage_limits[${i}].limit`),
      }));
    } else {
      log.warn('hugepage limits ignored: the hugetlb cgroup controller is not mounted', { field });
    }
  }
  if (Object.keys(r.unified ?? {}).length > 0) {
    // cgroup v2 file → value, passed to runc as OCI linux.resources.unified (it writes them after the rest).
    if (cgroups.version === 2) out.unified = { ...r.unified };
    else log.warn('unified (cgroup v2) resources ignored on a cgroup v1 host', { field });
  }
  return out;
}

/** The requested OOM score, raised to `floor` with a log line when lower (the rule: src/host/cri-resources.ts). */
export function clampOomScoreAdj(requested: number, floor: number, log: Logger, what: string): number {
  const oom = clampOomScore(requested, floor);
  if (oom.clamped) {
    log.info("oom_score_adj clamped to crimux's own value: it cannot be lowered on this host", {
      requested,
      applied: floor,
      target: what,
    });
  }
  return oom.value;
}
