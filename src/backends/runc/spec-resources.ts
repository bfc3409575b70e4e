/**
 * CRI LinuxContainerResources → OCI linux.resources (cgroup v1 semantics, as containerd's WithResources; runc converts
 * them to v2 files itself on a unified host: shares → cpu.weight, quota → cpu.max, …), and the
 * OOM score adjustment clamp.
 *
 * NOTE: on hosts where crimux cannot lower its own oom_score_adj (measured here: runc's nsexec fails with EACCES
 * on any value below the parent's), a requested value below crimux's own is raised to it, and a log line says so
 * — containerd's restrict_oom_score_adj does the same.
 */
import type * as cri from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import type { Logger } from '../../log/logger';
import type { OciResources } from '../../host/oci-spec';
import { hostCgroups, type CgroupLayer } from '../../host/cgroup';

function int(v: string, field: string): number {
  if (v === '' || v === undefined) return 0;
  if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`convert resources: ${field}: "${v}" is not an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`convert resources: ${field}: ${v} is out of range`);
  return n;
}

/** OCI resources for a container; `field` prefixes error messages (e.g. "config.linux.resources"). */
export function toOciResources(
  r: cri.LinuxContainerResources | null,
  field: string,
  log: Logger,
  cgroups: Pick<CgroupLayer, 'version' | 'hasController'> = hostCgroups(),
): OciResources {
  const out: OciResources = {};
  if (!r) return out;
  const shares = int(r.cpu_shares, `${field}.cpu_shares`);
  const quota = int(r.cpu_quota, `${field}.cpu_quota`);
  const period = int(r.cpu_period, `${field}.cpu_period`);
  const limit = int(r.memory_limit_in_bytes, `${field}.memory_limit_in_bytes`);
  const swap = int(r.memory_swap_limit_in_bytes, `${field}.memory_swap_limit_in_bytes`);
  if (shares < 0 || period < 0 || limit < 0) {
    throw new InvalidArgumentError(
      `convert resources: ${field}: cpu_shares, cpu_period and memory_limit_in_bytes must not be negative`,
    );
  }
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (shares > 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period > 0) cpu.period = period;
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (limit > 0) {
    // swap = limit forbids swap use, as containerd does when no swap limit is given.
    out.memory = { limit, swap: swap > 0 ? swap : limit };
  }
  if ((r.hugepage_limits ?? []).length > 0) {
    if (cgroups.hasController('hugetlb')) {
      out.hugepageLimits = r.hugepage_limits.map((h, i) => ({
        pageSize: h.page_size,
        limit: int(h.limit, `${field}.hugepage_limits[${i}].limit`),
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

/** The requested OOM score, raised to `floor` with a log line when lower (see the NOTE above). */
export function clampOomScoreAdj(requested: number, floor: number, log: Logger, what: string): number {
  if (requested < -1000 || requested > 1000) {
    throw new InvalidArgumentError(`convert resources: ${what}: oom_score_adj ${requested} outside [-1000, 1000]`);
  }
  if (requested >= floor) return requested;
  log.info("oom_score_adj clamped to crimux's own value: it cannot be lowered on this host", {
    requested,
    applied: floor,
    target: what,
  });
  return floor;
}

/** The requested oom_score_adj of a resources message (0 when unset). */
export function requestedOomScoreAdj(r: cri.LinuxContainerResources | null, field: string): number {
  return r ? int(r.oom_score_adj, `${field}.oom_score_adj`) : 0;
}
