/**
 * CRI LinuxContainerResources as numbers, read by one rule for every backend (containers, UpdateContainerResources
 * and a pod's resources and overhead alike). The CRI's int64 fields reach crimux as decimal strings; each backend
 * used to turn them into numbers its own way (a strict parse on runc, NaN or 0 elsewhere), so the same bad value was
 * refused on one handler and passed on as a different limit on another. Here: unset or '' is 0, anything else must
 * be a safe integer, and the fields no kernel takes below 0 (shares, period, memory) are refused when negative.
 *
 * What each runtime then makes of the numbers (OCI linux.resources, Docker's HostConfig, rkt's app resources, the
 * VM's size and guest cgroup) stays with its backend.
 */
import type * as cri from '../cri/types';
import { InvalidArgumentError } from '../errors';

export interface CriResourceNumbers {
  readonly cpuShares: number;
  /** 0: unlimited; CFS takes -1 as unlimited too, so a negative quota passes as asked. */
  readonly cpuQuota: number;
  readonly cpuPeriod: number;
  readonly memoryLimitBytes: number;
  readonly memorySwapLimitBytes: number;
  readonly oomScoreAdj: number;
}

const NONE: CriResourceNumbers = {
  cpuShares: 0,
  cpuQuota: 0,
  cpuPeriod: 0,
  memoryLimitBytes: 0,
  memorySwapLimitBytes: 0,
  oomScoreAdj: 0,
};

/** One CRI int64 field; `field` names it in the error (e.g. "config.linux.resources.cpu_shares"). */
export function criInt(v: string | undefined, field: string): number {
  if (v === '' || v === undefined) return 0;
  if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`convert resources: ${field}: "${v}" is not an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`convert resources: ${field}: ${v} is out of range`);
  return n;
}

/** The numbers of a resources message (all 0 when it is absent); `field` prefixes error messages. */
export function criResourceNumbers(
  r: cri.LinuxContainerResources | null | undefined,
  field: string,
): CriResourceNumbers {
  if (!r) return NONE;
  const n: CriResourceNumbers = {
    cpuShares: criInt(r.cpu_shares, `${field}.cpu_shares`),
    cpuQuota: criInt(r.cpu_quota, `${field}.cpu_quota`),
    cpuPeriod: criInt(r.cpu_period, `${field}.cpu_period`),
    memoryLimitBytes: criInt(r.memory_limit_in_bytes, `${field}.memory_limit_in_bytes`),
    memorySwapLimitBytes: criInt(r.memory_swap_limit_in_bytes, `${field}.memory_swap_limit_in_bytes`),
    oomScoreAdj: criInt(r.oom_score_adj, `${field}.oom_score_adj`),
  };
  if (n.cpuShares < 0 || n.cpuPeriod < 0 || n.memoryLimitBytes < 0) {
    throw new InvalidArgumentError(
      `convert resources: ${field}: cpu_shares, cpu_period and memory_limit_in_bytes must not be negative`,
    );
  }
  if (n.oomScoreAdj < -1000 || n.oomScoreAdj > 1000) {
    throw new InvalidArgumentError(`convert resources: ${field}: oom_score_adj ${n.oomScoreAdj} outside [-1000, 1000]`);
  }
  return n;
}

/** The swap limit to apply with a memory limit: an explicit one wins, else the limit itself (no swap, as Kubernetes). */
export function swapLimit(n: CriResourceNumbers): number {
  return n.memorySwapLimitBytes > 0 ? n.memorySwapLimitBytes : n.memoryLimitBytes;
}

/**
 * The oom_score_adj to apply: raised to `floor` (crimux's own value, src/host/oom-score.ts) when lower, because
 * runc cannot lower it below its parent's here — containerd's restrict_oom_score_adj does the same. The range was
 * checked when the number was read (criResourceNumbers). `clamped` tells the caller to log it.
 */
export function clampOomScoreAdj(
  requested: number,
  floor: number,
): { readonly value: number; readonly clamped: boolean } {
  return requested < floor ? { value: floor, clamped: true } : { value: requested, clamped: false };
}
